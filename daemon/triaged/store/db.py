"""Opening the SQLite file: WAL, busy timeout, migrations, one lock per connection."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from triaged.store import migrations


class StoreError(Exception):
    """The database cannot be opened or written (missing directory, full disk, …)."""


class MigrationPendingError(StoreError):
    """The store needs a migration the caller chose not to apply (``migrate=False``)."""

    def __init__(self, path: str, migration: str) -> None:
        super().__init__(f"{path} needs migration {migration!r}")
        self.migration = migration


class Store:
    """A sqlite-utils Database guarded by a lock, so scheduler threads, the dispatcher
    and the HTTP API can share one connection safely."""

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()
        # Which file was opened, by path and identity: the path is made absolute in
        # case the process changes directory later.
        self._file = None if path == ":memory:" else os.path.abspath(path)
        self._identity = None if self._file is None else _identity(self._file)

    def replaced(self) -> str | None:
        """Why the file at the store's path is no longer the one this store writes
        to (deleted, or another file renamed over it), or None while it is.

        SQLite keeps writing to the file it opened, also once nothing names it any
        more: everything written since is then lost at the next start. Compared by
        (device, inode), so ``cp other.db triaged.db``, which rewrites the same
        inode in place, is not seen here."""
        if self._file is None or self._identity is None:
            return None
        try:
            now = _identity(self._file)
        except (FileNotFoundError, NotADirectoryError):
            return f"{self._file} was deleted while open: writes since are lost at restart"
        except OSError:
            return None  # cannot tell (a transient error): not evidence of a swap
        if now != self._identity:
            return f"{self._file} was replaced by another file while open: writes go to the old one"
        return None

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        """One transaction; nested calls become savepoints."""
        with self._lock, self.db.atomic():
            yield self.db

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params))

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, params)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row; returns its id."""
        with self._lock:
            row_id = self.db.table(table).insert(row).last_pk
        assert isinstance(row_id, int), f"{table}: insert returned no row id"
        return row_id

    def update(self, table: str, row_id: int, row: dict[str, Any]) -> None:
        with self._lock:
            self.db.table(table).update(row_id, row)

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _identity(path: str) -> tuple[int, int]:
    """The file behind ``path``: (device, inode)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


BUSY_TIMEOUT_S = 10.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL. Two processes doing so at once can make SQLite refuse
    one at once, without waiting (it would deadlock otherwise): retry for as long as the
    busy timeout would have waited."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_store(path: str | Path, *, create: bool = True, migrate: bool = True) -> Store:
    """Open (and migrate) the store. ``create=False`` refuses to make a new file, so a
    CLI typo in ``--db`` says so instead of showing an empty incident list.
    ``migrate=False`` raises :class:`MigrationPendingError` instead of applying a
    pending migration. A store migrated by a newer triaged is always refused: this
    code would misread its schema, or break it with its next write."""
    text = str(path)
    if text != ":memory:":
        p = Path(text)
        if not create and not p.exists():
            raise StoreError(f"{text}: no such database (run the daemon first, or check --db)")
        if not p.parent.exists():
            raise StoreError(f"{text}: directory {p.parent} does not exist")
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(text, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = Database(conn)
        _refuse_newer(db, text)
        _migrate(db, text, apply=migrate)
    except sqlite3.Error as exc:
        _close_quietly(conn)
        raise StoreError(f"{text}: {exc}{_space_hint(text)}") from exc
    except StoreError:
        _close_quietly(conn)
        raise
    return Store(db, text)


def _refuse_newer(db: Database, path: str) -> None:
    unknown = migrations.unknown_applied(db)
    if unknown:
        raise StoreError(
            f"{path} was written by a newer triaged (migration {unknown[-1]!r});"
            " upgrade triaged or restore a backup"
        )


def _migrate(db: Database, path: str, *, apply: bool) -> None:
    if apply:
        migrations.apply(db)
        return
    pending = migrations.migrations.pending(db)
    if pending:
        raise MigrationPendingError(path, pending[0].name)


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    """Close a connection whose open failed; the first error is the one to report."""
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


# Below this, an SQLite I/O error is most likely the disk being full: SQLite reports
# a full disk as "disk I/O error" when it cannot even write its journal or WAL index.
LOW_SPACE_BYTES = 16 * 1024 * 1024


def _space_hint(path: str) -> str:
    """``; the file system has 0 bytes free`` when that is the likely cause."""
    if path == ":memory:":
        return ""
    try:
        free = shutil.disk_usage(Path(path).resolve().parent).free
    except OSError:
        return ""
    return f" (the file system holding it has {free:,} bytes free)" if free < LOW_SPACE_BYTES else ""
