"""Opening the store: migrations are applied once, whole, even with two openers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from triaged.store import migrations
from triaged.store.db import open_store

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
