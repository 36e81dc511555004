"""Opening the store: migrations are applied once, whole, even with two openers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from triaged.store import db as db_module
from triaged.store import migrations
from triaged.store.db import StoreError, open_store

OPENER = """
import sys, time
from triaged.store.db import open_store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
open_store(sys.argv[1]).close()
"""


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """The daemon's first start and an on-call's CLI can race to create the schema;
    before, the loser died with 'table incidents already exists'."""
    db = tmp_path / "triaged.db"
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(db), str(start)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    names = [r[0] for r in Database(db).execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()]
    assert names == [m.name for m in migrations.migrations._migrations]  # each once, in order


def test_a_migration_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    steps = Migrations("t")
    fail = True

    @steps()
    def m001(db: Database) -> None:
        migrations._script(db, "CREATE TABLE a (x);\nCREATE TABLE b (y);")
        if fail:
            raise OSError("database or disk is full")

    with pytest.raises(OSError):
        migrations.apply(db, steps)
    assert db.table_names() == []  # not even the record table: the whole thing rolled back
    fail = False
    migrations.apply(db, steps)  # the next start applies it cleanly, no "table a already exists"
    assert {"a", "b"} <= set(db.table_names())
    assert steps.pending(db) == []


def test_a_store_opened_again_applies_nothing_and_sqlite_utils_agrees(tmp_path: Path) -> None:
    path = tmp_path / "triaged.db"
    open_store(path).close()
    store = open_store(path, create=False)
    try:
        assert migrations.migrations.pending(store.db) == []  # sqlite-utils reads the same record
        rows = store.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
        assert rows == len(migrations.migrations._migrations)
    finally:
        store.close()


def test_an_older_store_gains_lifetimes_and_keeps_its_incidents(tmp_path: Path) -> None:
    """m005 on a store with incidents: the old rows read back with no earlier lifetimes
    and no hand-set severity, and a reopen is then kept as history."""
    from triaged.incidents.model import IncidentStatus, transition
    from triaged.store import incidents as rows

    path = tmp_path / "triaged.db"
    older = Migrations("triaged")
    older._migrations = [
        m for m in migrations.migrations._migrations if m.name != "m005_lifetimes_and_hand_severity"
    ]
    db = Database(path)
    migrations.apply(db, older)
    db.execute(
        "INSERT INTO incidents (group_key, title, severity, status, detected_at, opened_at, acknowledged_at,"
        " resolved_at, updated_at) VALUES ('g', 't', 'P1', 'resolved', 0, 10, 20, 30, 30)"
    )
    db.conn.commit()
    db.close()
    store = open_store(path)
    try:
        inc = rows.get_incident(store, 1)
        assert inc is not None and inc.past_lifetimes == () and inc.severity_set_by is None
        transition(inc, IncidentStatus.DETECTED, 40, actor="alice")
        rows.update_incident(store, inc)
        again = rows.get_incident(store, 1)
        assert again is not None and again.reopened_by == "alice" and again.acknowledged_at is None
        assert [(x.started_at, x.acknowledged_at, x.resolved_at) for x in again.past_lifetimes] == [
            (10, 20, 30)
        ]
    finally:
        store.close()


def test_a_store_that_cannot_be_opened_on_a_nearly_full_disk_says_how_much_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reports a full disk as "disk I/O error" when it cannot write its WAL
    index: the error names the free space, so nobody hunts for a broken disk."""
    monkeypatch.setattr(db_module, "LOW_SPACE_BYTES", 2**62)  # every disk is "nearly full"
    (tmp_path / "triaged.db").mkdir()  # SQLite cannot open it: an sqlite3 error
    with pytest.raises(StoreError) as info:
        open_store(tmp_path / "triaged.db")
    assert "bytes free)" in str(info.value)
    monkeypatch.setattr(db_module, "LOW_SPACE_BYTES", 0)
    with pytest.raises(StoreError) as info:
        open_store(tmp_path / "triaged.db")
    assert "free" not in str(info.value), "no hint when space is not the problem"
