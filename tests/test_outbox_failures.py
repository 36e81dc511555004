"""The dispatcher when things go wrong around a send: overlapping dispatches, a claim
that outlived its lease, a store that cannot record, a receiver that raises something
unexpected, a failing sweep, an unbounded Retry-After, a predecessor killed mid-send.
In every case each page goes out once and nothing is left blocking the queue."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from triaged.errors import retry_after
from triaged.incidents.model import Incident, IncidentStatus
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError, Receipt
from triaged.outbox import owner
from triaged.outbox.backoff import Backoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import Store, open_store, outbox
from triaged.store import incidents as incident_rows
from triaged.testing.notifier import RecordingNotifier


def enqueue(store: Store, key: str, now: float = 100, incident_id: int | None = None) -> None:
    msg = Message(dedup_key=key, event=Event.OPEN, incident_id=incident_id or 1, severity=Severity.P1,
                  title="[P1] t", body="b", service="api", started_at=now)  # fmt: skip
    outbox.enqueue(store, incident_id=incident_id, event="open", receiver="pager",
                   dedup_key=key, payload=msg.to_dict(), now=now)  # fmt: skip


class GatedNotifier(RecordingNotifier):
    """Holds each send until the test opens the gate, so overlaps are exact."""

    def __init__(self) -> None:
        super().__init__("pager")
        self.entered = threading.Event()
        self.gate = threading.Event()

    def send(self, message: Message) -> Receipt:
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        return super().send(message)


def test_a_dispatch_that_finds_another_running_leaves_the_work_to_it(store: Store) -> None:
    for i in range(3):
        enqueue(store, f"k{i}", now=100)
    notifier = GatedNotifier()
    d = Dispatcher(store, {"pager": notifier}, lease_s=1)
    cycle = threading.Thread(target=d.dispatch, args=(100.0,))
    cycle.start()
    assert notifier.entered.wait(10)
    # The retry job fires long after the lease of the row being sent: without the
    # lock it would claim that row again and page twice.
    assert d.dispatch(1_000.0) == 0
    notifier.gate.set()
    cycle.join(10)
    assert [m.dedup_key for m in notifier.sent] == ["k0", "k1", "k2"]
    assert outbox.counts(store) == {"sent": 3}


def test_a_receiver_stuck_in_a_send_leaves_the_others_free(store: Store) -> None:
    """Rounds are per receiver: while `pager` is stuck, `chat` still gets its page,
    and `pager`'s round is left to the thread that has it."""
    enqueue(store, "k0", now=99)
    msg = Message(dedup_key="c0", event=Event.OPEN, incident_id=1, severity=Severity.P1,
                  title="[P1] t", body="b", service="api", started_at=100)  # fmt: skip
    outbox.enqueue(store, incident_id=None, event="open", receiver="chat", dedup_key="c0",
                   payload=msg.to_dict(), now=100)  # fmt: skip
    pager, chat = GatedNotifier(), RecordingNotifier("chat")
    d = Dispatcher(store, {"pager": pager, "chat": chat})
    assert d.due_receivers(100) == ["pager", "chat"]  # longest waiting first
    stuck = threading.Thread(target=d.dispatch_to, args=("pager", 100.0))
    stuck.start()
    assert pager.entered.wait(10)
    assert d.dispatch(101) == 1  # chat's; pager's round is running elsewhere
    assert [m.dedup_key for m in chat.sent] == ["c0"]
    pager.gate.set()
    stuck.join(10)
    assert outbox.counts(store) == {"sent": 2}


def test_a_claim_that_outlived_its_lease_cannot_undo_the_new_holders_record(store: Store) -> None:
    enqueue(store, "k")
    (old,) = outbox.claim_due(store, 100, "a", lease_s=60)
    (new,) = outbox.claim_due(store, 161, "b", lease_s=60)
    assert outbox.mark_sent(store, new, 162, "id-1")
    assert not outbox.mark_retry(store, old, 200, "late failure report")
    assert not outbox.mark_dead(store, old, "late")
    assert store.query("SELECT status, message_id FROM outbox")[0] == {"status": "sent", "message_id": "id-1"}


def test_a_full_disk_after_the_send_neither_repeats_nor_loses_the_page(store: Store) -> None:
    incident = incident_rows.insert_incident(store, Incident(0, "g", "api", "t", Severity.P1,
                                             IncidentStatus.DETECTED, 100, 100, 100))  # fmt: skip
    enqueue(store, "k", incident_id=incident.id)
    notifier = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": notifier}, Backoff(jitter=0), lease_s=60)
    # The database cannot grow: updating a row in place works, a new timeline row does not.
    pages = store.query("PRAGMA page_count")[0]["page_count"]
    store.execute(f"PRAGMA max_page_count = {pages}")
    assert d.dispatch(100) == 1
    for later in (161, 400, 4_000):
        d.dispatch(later)
    assert [m.dedup_key for m in notifier.sent] == ["k"]
    assert outbox.counts(store) == {"sent": 1}


def test_a_page_sent_while_the_store_is_read_only_is_recorded_later_not_resent(store: Store) -> None:
    enqueue(store, "k")
    sent: list[str] = []

    class LocksTheStore(RecordingNotifier):
        def send(self, message: Message) -> Receipt:
            sent.append(message.dedup_key)
            store.execute("PRAGMA query_only = ON")  # every write from here on fails
            return Receipt("m-1")

    d = Dispatcher(store, {"pager": LocksTheStore("pager")}, Backoff(jitter=0), lease_s=60)
    assert d.dispatch(100) == 0  # sent, but not recorded
    store.execute("PRAGMA query_only = OFF")
    d.dispatch(161)  # the lease ran out: claimed again, recorded, not sent again
    d.dispatch(300)
    assert sent == ["k"]
    assert store.query("SELECT status, message_id FROM outbox")[0] == {"status": "sent", "message_id": "m-1"}


class Raises(RecordingNotifier):
    def send(self, message: Message) -> Receipt:
        if message.dedup_key == "poison":
            raise RuntimeError("bug in a notifier\nsecond line")
        return super().send(message)


def test_an_unexpected_error_is_a_failed_attempt_and_the_queue_moves_on(store: Store) -> None:
    enqueue(store, "poison", now=100)
    enqueue(store, "next", now=101)
    notifier = Raises("pager")
    d = Dispatcher(store, {"pager": notifier}, Backoff(base_s=1, cap_s=1, max_attempts=3, jitter=0))
    for t in range(100, 120):
        d.dispatch(float(t))
    (poison,) = store.query("SELECT status, attempts, last_error FROM outbox WHERE dedup_key = 'poison'")
    assert poison["status"] == "dead" and poison["attempts"] == 3
    assert "RuntimeError: bug in a notifier" in poison["last_error"]
    assert [m.dedup_key for m in notifier.sent] == ["next"]
    assert d.stats.errors == 3


def test_a_failing_sweep_does_not_stop_recorded_pages(store: Store) -> None:
    enqueue(store, "k")

    def broken_sweep(now: float) -> None:
        raise OSError("database or disk is full")

    notifier = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": notifier}, sweeps=[broken_sweep])
    assert d.dispatch(100) == 1
    assert d.stats.errors == 1


def test_retry_after_is_honoured_up_to_a_limit(store: Store) -> None:
    enqueue(store, "k")
    notifier = RecordingNotifier("pager")
    notifier.fail_with = NotifyError("HTTP 429", retry_after=86_400)
    d = Dispatcher(store, {"pager": notifier}, Backoff(base_s=1, jitter=0, max_retry_after_s=900))
    d.dispatch(100)
    assert store.query("SELECT due_at FROM outbox")[0]["due_at"] == 1_000


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("-5", 0.0),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        (None, None),
        ("Sun, 29 Nov 2026 06:02:00 GMT", 90.0),  # the HTTP-date form, from the answer's now
        ("Sun, 29 Nov 2026 05:59:00 GMT", 0.0),  # already past
        ("Sun, 31 Nov 2026 06:02:00 GMT", None),  # no such day
    ],
)
def test_retry_after_header_values(header: str | None, seconds: float | None) -> None:
    now = 1_795_932_030.0  # 2026-11-29 06:00:30 UTC
    assert retry_after(header, now) == seconds


def test_the_backoff_of_a_very_late_attempt_is_the_cap() -> None:
    assert Backoff(base_s=2, cap_s=300, jitter=0).delay(5_000) == 300


def test_rows_a_killed_predecessor_was_sending_go_out_at_start_up(store: Store) -> None:
    enqueue(store, "orphan", now=100)
    enqueue(store, "ours", now=101)
    enqueue(store, "elsewhere", now=102)
    host = socket.gethostname()
    dead_pid = _unused_pid()
    for key, worker in (("orphan", f"{host}:{dead_pid}:1"), ("ours", f"{host}:{os.getpid()}:9"),
                        ("elsewhere", f"other-host:{dead_pid}:1")):  # fmt: skip
        store.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = 100 WHERE dedup_key = ?",
            [worker, key],
        )
    d = Dispatcher(store, {"pager": RecordingNotifier("pager")})
    assert d.release_orphans() == 1
    statuses = {r["dedup_key"]: r["status"] for r in store.query("SELECT dedup_key, status FROM outbox")}
    assert statuses == {"orphan": "pending", "ours": "sending", "elsewhere": "sending"}


def _claim(store: Store, key: str, worker: str) -> None:
    store.execute(
        "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = 100 WHERE dedup_key = ?",
        [worker, key],
    )


def _statuses(store: Store) -> dict[str, str]:
    return {r["dedup_key"]: r["status"] for r in store.query("SELECT dedup_key, status FROM outbox")}


@pytest.mark.skipif(owner.start_token(os.getpid()) is None, reason="needs /proc")
def test_a_predecessor_that_had_our_pid_is_told_apart_by_its_start_time(store: Store) -> None:
    """In a container the daemon is PID 1 on every start: a claim made by pid 1 before
    a kill -9 is not ours just because we are pid 1 now."""
    host = socket.gethostname()
    ours = owner.current(host, 1)
    assert ours.start is not None
    ticks, boot = ours.start.split("@")
    predecessor = owner.Owner(host, os.getpid(), f"{int(ticks) - 500}@{boot}", "1")
    for key in ("before-the-kill", "ours-now"):
        enqueue(store, key)
    _claim(store, "before-the-kill", predecessor.worker())
    d = Dispatcher(store, {"pager": RecordingNotifier("pager")})
    _claim(store, "ours-now", d.worker)
    assert d.release_orphans() == 1
    assert _statuses(store) == {"before-the-kill": "pending", "ours-now": "sending"}
    assert d.dispatch(now=101) == 1  # at once, not after the 60 s lease


@pytest.mark.skipif(owner.start_token(os.getpid()) is None, reason="needs /proc")
def test_a_live_process_keeps_its_claims_until_it_dies(store: Store) -> None:
    enqueue(store, "held")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = owner.start_token(other.pid)
        _claim(store, "held", owner.Owner(socket.gethostname(), other.pid, start, "1").worker())
        d = Dispatcher(store, {"pager": RecordingNotifier("pager")})
        assert d.release_orphans() == 0
        other.send_signal(signal.SIGKILL)
        other.wait()
        assert d.release_orphans() == 1
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_without_proc_the_pid_alone_decides(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(owner, "PROC", tmp_path / "no-proc")
    host = socket.gethostname()
    d = Dispatcher(store, {"pager": RecordingNotifier("pager")})
    assert d.worker.count(":") == 2  # host:pid:n, as before
    for key, worker in (("dead", f"{host}:{_unused_pid()}:77@abc:1"), ("alive", f"{host}:{os.getpid()}:77@abc:1"),
                        ("legacy-dead", f"{host}:{_unused_pid()}:1")):  # fmt: skip
        enqueue(store, key)
        _claim(store, key, worker)
    assert d.release_orphans() == 2
    assert _statuses(store) == {"dead": "pending", "alive": "sending", "legacy-dead": "pending"}


PID1_CLAIM = """
import os, sys
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import open_store
from triaged.testing.notifier import RecordingNotifier
assert os.getpid() == 1
store = open_store(sys.argv[1])
d = Dispatcher(store, {"pager": RecordingNotifier("pager")})
if sys.argv[2] == "claim":
    store.execute("UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = 100", [d.worker])
    os._exit(0)  # gone mid-send, no cleanup: as after kill -9 (init ignores its own SIGKILL)
print(d.release_orphans())
"""


def _as_pid_1(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        sys.executable,
        "-c",
        textwrap.dedent(PID1_CLAIM),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def test_a_pid_1_daemon_frees_the_claims_of_the_pid_1_it_replaced(tmp_path: Path) -> None:
    """Two real processes, each PID 1 in its own pid namespace, as in a container."""
    if shutil.which("unshare") is None or _as_pid_1(str(tmp_path / "probe.db"), "release").returncode != 0:
        pytest.skip("cannot create a pid namespace here")
    db = tmp_path / "triaged.db"
    store = open_store(db)
    enqueue(store, "page")
    store.close()
    assert _as_pid_1(str(db), "claim").returncode == 0
    store = open_store(db)
    assert _statuses(store) == {"page": "sending"}
    store.close()
    released = _as_pid_1(str(db), "release")
    assert released.stdout.splitlines()[-1] == "1", released.stderr  # the log goes to stdout too


def _unused_pid() -> int:
    pid = 4_000_000  # above the kernel's pid_max default; checked anyway
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1
