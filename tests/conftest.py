from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Severity
from triaged.store import Store, open_store
from triaged.store import incidents as incident_rows

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


@pytest.fixture(autouse=True)
def _logging_config_restored() -> Iterator[None]:
    """What a test configures stays in it: `triaged check` sets the level to critical,
    and a later test capturing warnings would see none."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "triaged.db")
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty store for CLI tests to pass as ``--db``; no ambient
    ``$TRIAGED_CONFIG`` to point the CLI elsewhere."""
    monkeypatch.delenv("TRIAGED_CONFIG", raising=False)
    path = tmp_path / "triaged.db"
    open_store(path).close()
    return str(path)


class AddIncident(Protocol):
    def __call__(
        self,
        store: Store,
        status: IncidentStatus = ...,
        *,
        severity: Severity = ...,
        service: str = ...,
    ) -> Incident: ...


@pytest.fixture
def add_incident() -> AddIncident:
    """Insert a HighLatency incident detected ten minutes ago (resolved five minutes
    later when ``status`` is RESOLVED), as the CLI finds one."""

    def add(
        store: Store,
        status: IncidentStatus = IncidentStatus.DETECTED,
        *,
        severity: Severity = Severity.P1,
        service: str = "api",
    ) -> Incident:
        now = time.time() - 600
        inc = Incident(
            id=0,
            group_key=f"service={service}",
            service=service,
            title=f"HighLatency on {service}",
            severity=severity,
            status=status,
            detected_at=now,
            opened_at=now,
            updated_at=now,
            rule="HighLatency",
            expr="latency > 1",
            labels={"service": service},
            resolved_at=now + 300 if status is IncidentStatus.RESOLVED else None,
        )
        return incident_rows.insert_incident(store, inc)

    return add


@pytest.fixture
def default_logging() -> Iterator[None]:
    """structlog as unconfigured: an earlier test may have set a level above warning."""
    import structlog

    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)
