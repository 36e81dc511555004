from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from triaged.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests need the project's shared/ folder beside the repo")
    return SHARED


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI output as piped (full widths): an exported $COLUMNS would make the CLI fit
    its tables to it. Tests of the fitted output set it themselves."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "triaged.db")
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def default_logging() -> Iterator[None]:
    """structlog as unconfigured: an earlier test may have set a level above warning."""
    import structlog

    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)
