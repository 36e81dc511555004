"""A store from a newer triaged is refused, not misread; a store older than the CLI is
not migrated under a running (older) daemon."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from triaged.cli import cli
from triaged.store import migrations
from triaged.store.db import StoreError, open_store

from .conftest import TRIAGED, Setup, daemon_env

NEWER = "m999_from_the_future"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def newer_store(path: Path) -> None:
    """A current store, then marked as migrated by a release this code does not know."""
    open_store(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('triaged', ?, 'later')",
            (NEWER,),
        )
    conn.close()


def older_store(path: Path) -> str:
    """A store as the release before the newest migration left it; returns that migration."""
    *before, newest = migrations.migrations._migrations
    steps = Migrations(migrations.migrations.name)
    for step in before:
        steps(name=step.name)(step.fn)
    db = Database(path)
    migrations.apply(db, steps)
    db.close()
    return newest.name


def applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def refusal(db: Path) -> str:
    return f"{db} was written by a newer triaged (migration '{NEWER}'); upgrade triaged or restore a backup"


def test_the_cli_refuses_a_store_from_a_newer_triaged(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    newer_store(db)
    result = invoke("incidents", "list", "--db", str(db))
    assert result.exit_code == 1
    assert result.output == f"Error: {refusal(db)}\n"
    with pytest.raises(StoreError, match="newer triaged"):
        open_store(db)  # the daemon's way in: refused the same way


def test_the_daemon_refuses_to_start_on_a_store_from_a_newer_triaged(setup: Setup) -> None:
    newer_store(setup.db)
    before = applied(setup.db)
    done = subprocess.run(
        [TRIAGED, "run", "--config", str(setup.config)],
        capture_output=True,
        text=True,
        env=daemon_env(),
        timeout=20,
    )
    assert done.returncode == 1, done.stderr
    assert f"Error: {refusal(setup.db)}" in done.stderr.splitlines()
    assert applied(setup.db) == before


@contextmanager
def daemon_lock(db: Path) -> Iterator[int]:
    """Another process holding the store's instance lock, as `triaged run` does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom triaged.service.instance import acquire\n"
            "acquire(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert holder.pid != os.getpid()
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits, and the kernel drops its lock
        holder.wait(10)


def test_the_cli_migrates_only_once_the_daemon_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    pending = older_store(db)
    before = applied(db)
    with daemon_lock(db) as pid:
        result = invoke("incidents", "list", "--db", str(db))
        assert result.exit_code == 1
        assert result.output == (
            f"Error: {db} needs migration '{pending}'; the running daemon (pid {pid}) is older:"
            " restart it to upgrade the store\n"
        )
        assert applied(db) == before  # the schema under the daemon is untouched
    # Stopped (or restarted as the newer one, which migrates at start): the CLI may.
    result = invoke("incidents", "list", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert applied(db) == [*before, pending]
