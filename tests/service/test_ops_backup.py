"""`triaged backup`: a copy of a live store that holds everything, even what is still
only in the -wal file, checked before it replaces anything."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.store import Store, open_store


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def add_incidents(store: Store, count: int, first: int = 0) -> None:
    now = time.time()
    for n in range(first, first + count):
        store.insert(
            "incidents",
            {
                "group_key": f"service=s{n}",
                "title": f"incident {n}",
                "severity": "P2",
                "status": "detected",
                "detected_at": now,
                "opened_at": now,
                "updated_at": now,
            },
        )


def incident_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM incidents").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # no schema at all: the copy missed it
    finally:
        conn.close()


def live_store(path: Path, incidents: int) -> Store:
    """A store as a running daemon holds it: open, its latest writes only in the WAL."""
    store = open_store(path)
    store.execute("PRAGMA wal_autocheckpoint=0")  # as between two checkpoints
    add_incidents(store, incidents)
    return store


def test_backup_of_a_live_store_holds_what_cp_misses(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    store = live_store(db, 3)
    try:
        shutil.copy(db, tmp_path / "cp.db")  # what the operator did: the -wal is left behind
        out = tmp_path / "backup.db"
        result = invoke("backup", "--db", str(db), str(out))
        add_incidents(store, 1, first=3)  # the daemon goes on writing; the store stays usable
    finally:
        store.close()
    assert incident_count(tmp_path / "cp.db") < 3  # the problem this command solves
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines == [f"backed up {db} to {out}: {out.stat().st_size:,} bytes, 3 incidents"]
    assert incident_count(out) == 3
    assert not Path(f"{out}-wal").exists()  # one self-contained file, safe to move
    check = sqlite3.connect(out)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_an_existing_backup_is_kept_unless_force(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    live_store(db, 2).close()
    out = tmp_path / "backup.db"
    out.write_bytes(b"yesterday's backup")
    refused = invoke("backup", "--db", str(db), str(out))
    assert refused.exit_code == 1
    assert refused.output == f"Error: {out} already exists: pass --force to replace it\n"
    assert out.read_bytes() == b"yesterday's backup"
    forced = invoke("backup", "--db", str(db), "--force", str(out))
    assert forced.exit_code == 0, forced.output
    assert incident_count(out) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "triaged.db"]  # no partial left


def test_the_store_itself_is_never_a_backup_target(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    live_store(db, 1).close()
    result = invoke("backup", "--db", str(db), "--force", str(db))
    assert result.exit_code == 1
    assert "is the store itself" in result.output
    assert incident_count(db) == 1


def test_backup_finds_the_store_through_the_config(tmp_path: Path) -> None:
    db = tmp_path / "state" / "triaged.db"
    db.parent.mkdir()
    live_store(db, 1).close()
    config = tmp_path / "triaged.yaml"
    config.write_text("storage: {db: state/triaged.db}\ntargets: 7\n")  # only storage.db is read
    out = tmp_path / "copy.db"
    result = invoke("backup", "--config", str(config), str(out))
    assert result.exit_code == 0, result.output
    assert result.output.endswith(" bytes, 1 incident\n") and incident_count(out) == 1


def test_a_missing_store_is_named_and_nothing_is_made(tmp_path: Path) -> None:
    result = invoke("backup", "--db", str(tmp_path / "nope.db"), str(tmp_path / "out.db"))
    assert result.exit_code == 1
    assert "nope.db: no such database" in result.output
    assert list(tmp_path.iterdir()) == []
