"""`triaged backup` in a directory someone else can write to: nothing planted there
(a symbolic link at the temporary name, at OUT, or swapped in mid-backup) can redirect
the copy of the store, and the copy is readable by its owner only."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.store import open_store
from triaged.store.backup import BackupError, backup

from .test_ops_backup import add_incidents, incident_count

PRECIOUS = b"someone else's file\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "triaged.db"
    s = open_store(db)
    add_incidents(s, 2)
    yield db
    s.close()


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim"
    path.parent.mkdir()
    path.write_bytes(PRECIOUS)
    return path


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(
    tmp_path: Path, store: Path, victim: Path
) -> None:
    """The temporary name was `.{OUT}.partial-{pid}`: guessable, so a link there sent
    the copy of the store (every incident) wherever it pointed."""
    out = tmp_path / "backups" / "out.db"
    out.parent.mkdir()
    planted = victim.with_name("copy-for-me.db")
    (out.parent / f".out.db.partial-{os.getpid()}").symlink_to(planted)
    done = backup(store, out)
    assert not planted.exists()
    assert not out.is_symlink() and incident_count(out) == 2 == done.incidents


def test_the_backup_is_readable_by_its_owner_only(tmp_path: Path, store: Path) -> None:
    old = os.umask(0o022)  # the usual umask: a file sqlite3 creates would be 0644
    try:
        backup(store, tmp_path / "out.db")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.db").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("force", [False, True])
def test_an_out_that_is_a_symbolic_link_is_refused(
    tmp_path: Path, store: Path, victim: Path, force: bool
) -> None:
    out = tmp_path / "out.db"
    out.symlink_to(victim)
    args = ["backup", str(out), "--db", str(store), *(["--force"] if force else [])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert f"{out} is a symbolic link" in result.output
    assert victim.read_bytes() == PRECIOUS and out.is_symlink()


def test_a_temporary_file_swapped_for_a_link_is_caught_before_writing(
    tmp_path: Path, store: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race left: between creating the temporary file and sqlite3 opening it by
    name, someone replaces it with a link. Simulated by doing it right after mkstemp."""
    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_swap(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)
        os.unlink(name)
        os.symlink(victim, name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_swap)
    with pytest.raises(BackupError, match="was replaced while the backup ran"):
        backup(store, tmp_path / "out.db")
    assert victim.read_bytes() == PRECIOUS
    assert not (tmp_path / "out.db").exists()
