"""`Store.replaced()`: a store file deleted or swapped under the open store is noticed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triaged.app import build
from triaged.config import load_config
from triaged.runner import Runner
from triaged.service.host import ServiceHost
from triaged.store import open_store


def test_the_same_file_is_not_replaced(tmp_path: Path) -> None:
    store = open_store(tmp_path / "triaged.db")
    try:
        assert store.replaced() is None
        moved = tmp_path / "elsewhere.db"
        os.rename(store.path, moved)
        os.rename(moved, store.path)  # moved away and back: still the same file
        assert store.replaced() is None
    finally:
        store.close()


def test_a_deleted_store_is_noticed(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    store = open_store(db)
    try:
        for path in tmp_path.glob("triaged.db*"):  # what `rm triaged.db*` does
            path.unlink()
        reason = store.replaced()
        assert reason is not None and "\n" not in reason
        assert reason.startswith(f"{db} was deleted while open")
    finally:
        store.close()


def test_a_file_copied_over_the_store_is_noticed(tmp_path: Path) -> None:
    db = tmp_path / "triaged.db"
    other = tmp_path / "other.db"
    open_store(other).close()
    store = open_store(db)
    try:
        os.replace(other, db)  # `mv other.db triaged.db`; rsync and install also rename
        reason = store.replaced()
        assert reason is not None and reason.startswith(f"{db} was replaced by another file")
    finally:
        store.close()


def test_a_relative_path_is_checked_where_it_was_opened(tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        store = open_store("triaged.db")
    finally:
        os.chdir(here)  # the process moves on; the store is still the one in tmp_path
    try:
        assert store.replaced() is None
        shutil.move(tmp_path / "triaged.db", tmp_path / "gone.db")
        assert store.replaced() is not None
    finally:
        store.close()


def test_an_in_memory_store_is_never_replaced() -> None:
    store = open_store(":memory:")
    assert store.replaced() is None
    store.close()


@pytest.mark.usefixtures("default_logging")
def test_the_daemon_says_once_and_healthz_fails_when_its_store_is_deleted(tmp_path: Path) -> None:
    """The 60 s gc job checks the store: `rm triaged.db*` under a running daemon is one
    `store_replaced` line and a failing /healthz, not silence until a restart loses
    everything."""
    (tmp_path / "t.yaml").write_text("storage: {db: t.db}\n")
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    host = ServiceHost(Runner(daemon), str(tmp_path / "t.yaml"), environ={})
    try:
        assert host.live()[0]
        for path in tmp_path.glob("t.db*"):
            path.unlink()
        with capture_logs() as logs:
            daemon.gc()
            daemon.gc()
        assert [e["event"] for e in logs if e["event"] == "store_replaced"] == ["store_replaced"]
        ok, detail = host.live()
        assert not ok and "store's file was deleted or replaced" in detail
        assert str(tmp_path) not in detail  # /healthz needs no token: no paths
    finally:
        daemon.close()
        daemon.store.close()
