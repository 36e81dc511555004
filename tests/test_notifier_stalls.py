"""Receivers that stall: a send has one total deadline, the loop never waits for a
send, a failing row waits out its backoff from when it failed, and one incident's
failing row does not hold up another incident's page (a 429 holds the receiver).

Real HTTP receivers on 127.0.0.1; the loop tests run the real daemon under the real
Runner, so they take a few seconds each.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from triaged.app import Daemon, build
from triaged.config import load_config
from triaged.incidents.model import Incident, IncidentStatus
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import Notifier, NotifyError
from triaged.notifiers.pagerduty import PagerDutyNotifier
from triaged.notifiers.webhook import WebhookNotifier
from triaged.outbox.backoff import Backoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.runner import Runner
from triaged.store import Store, outbox
from triaged.store import incidents as incident_rows

Behave = Callable[
    [dict[str, Any]], str
]  # payload → ok | 500 | 429:<s> | slow:<s> | hang | trickle | trickle-body


class Receiver:
    """An HTTP receiver whose answer depends on what it is sent. ``hang`` reads the
    request and never answers; ``trickle`` answers its status line and headers one
    byte every 0.4 s; ``trickle-body`` sends 200 at once, then the body a byte at a
    time. Either stops after ``give_up_s`` (so a test without the fix ends too)."""

    def __init__(self, behave: Behave, give_up_s: float = 8.0) -> None:
        self.behave = behave
        self.give_up_s = give_up_s
        self.got: list[tuple[float, dict[str, Any], str]] = []  # (arrival, payload, mode)
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                length = 0
                while line := self.rfile.readline():
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                payload = json.loads(self.rfile.read(length) or b"{}")
                mode = receiver.behave(payload)
                with receiver._lock:
                    receiver.got.append((time.time(), payload, mode))
                receiver.answer(self, mode)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def payloads(self, mode: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [p for _, p, m in self.got if mode is None or m == mode]

    def arrivals(self, incident_id: int) -> list[float]:
        with self._lock:
            return [t for t, p, m in self.got if p.get("incidentId") == incident_id and m == "ok"]

    def answer(self, h: socketserver.StreamRequestHandler, mode: str) -> None:
        if mode == "hang":
            self.release.wait(self.give_up_s)
            return
        if mode in ("trickle", "trickle-body"):
            head, body = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", b"x" * 40
            slow = head + body if mode == "trickle" else body
            if mode == "trickle-body":
                h.wfile.write(head)
            until = time.monotonic() + self.give_up_s
            for byte in slow:
                if self.release.wait(0.4) or time.monotonic() > until:
                    return
                h.wfile.write(bytes([byte]))
            return
        status, _, wait = mode.partition(":")
        if status == "slow":  # answers 200, after `wait` seconds
            self.release.wait(float(wait))
            status, wait = "ok", ""
        code = {"ok": 200, "500": 500, "429": 429}[status]
        extra = f"Retry-After: {wait}\r\n" if wait else ""
        h.wfile.write(f"HTTP/1.1 {code} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def message(incident_id: int, event: Event = Event.OPEN) -> Message:
    return Message(
        dedup_key=f"triaged-{incident_id}-{event.value}", event=event, incident_id=incident_id,
        severity=Severity.P1, title="[P1] t", body="b", service="api", started_at=100.0,
    )  # fmt: skip


def enqueue(store: Store, incident_id: int, event: Event = Event.OPEN, now: float = 100.0) -> None:
    while not store.query("SELECT 1 FROM incidents WHERE id = ?", [incident_id]):
        incident_rows.insert_incident(store, Incident(0, f"g{incident_id}", "api", "t", Severity.P1,
                                                      IncidentStatus.DETECTED, 100, 100, 100))  # fmt: skip
    msg = message(incident_id, event)
    outbox.enqueue(store, incident_id=incident_id, event=event.value, receiver="pager",
                   dedup_key=msg.dedup_key, payload=msg.to_dict(), now=now)  # fmt: skip


def row_of(store: Store, incident_id: int, event: str = "open") -> outbox.OutboxRow:
    (row,) = [r for r in outbox.rows_for_incident(store, incident_id) if r.event == event]
    return row


# -- one total deadline per send --------------------------------------------------------


@pytest.mark.parametrize("kind", ["webhook", "pagerduty"])
def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_timeout(kind: str) -> None:
    """requests' timeout is per read, and each byte resets it: before, this send took
    as long as the receiver liked (the review saw the daemon stall for good)."""
    with Receiver(lambda _: "trickle") as rx:
        notifier: Notifier = (
            WebhookNotifier("hook", rx.url, timeout_s=1.0)
            if kind == "webhook"
            else PagerDutyNotifier("pd", "key", url=rx.url, timeout_s=1.0)
        )
        started = time.monotonic()
        with pytest.raises(NotifyError, match="timed out after 1s") as info:
            notifier.send(message(1))
        took = time.monotonic() - started
    assert not info.value.permanent
    assert 0.9 < took < 2.0


def test_an_answer_whose_body_trickles_is_taken_from_its_status() -> None:
    """The receiver said 200: the page is delivered, even if the body never ends."""
    with Receiver(lambda _: "trickle-body") as rx:
        started = time.monotonic()
        WebhookNotifier("hook", rx.url, timeout_s=1.0).send(message(1))
        took = time.monotonic() - started
    assert took < 2.0


# -- retries: backoff from the failure, once per round ---------------------------------


def test_a_row_is_tried_once_per_round_and_its_backoff_counts_from_the_failure(store: Store) -> None:
    """The backoff (0.2 s) is shorter than the send timeout (0.6 s): before, the row
    was due again when its send failed and was re-claimed in the same round, attempt
    after attempt with no pause, until it was dead-lettered."""
    with Receiver(lambda _: "hang") as rx:
        d = Dispatcher(
            store,
            {"pager": WebhookNotifier("pager", rx.url, timeout_s=0.6)},
            Backoff(base_s=0.2, jitter=0, max_attempts=3),
            clock=time.time,
        )
        enqueue(store, 1, now=time.time())
        d.dispatch(time.time())
        failed_at = time.time()
        assert len(rx.payloads()) == 1
        row = row_of(store, 1)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.due_at > failed_at - 0.1  # 0.2 s after the failure, not after the start


# -- head-of-line: per (receiver, incident) ---------------------------------------------


def dispatcher(store: Store, url: str) -> Dispatcher:
    return Dispatcher(store, {"pager": WebhookNotifier("pager", url, timeout_s=2)}, Backoff(jitter=0))


def test_one_incidents_failing_row_does_not_hold_up_another_incidents(store: Store) -> None:
    with Receiver(lambda p: "500" if p["incidentId"] == 1 else "ok") as rx:
        d = dispatcher(store, rx.url)
        enqueue(store, 1)
        enqueue(store, 1, Event.RESOLVE, now=101)
        enqueue(store, 2, now=102)
        assert d.dispatch(102) == 1
        assert [p["dedupKey"] for p in rx.payloads("ok")] == ["triaged-2-open"]
        # Incident 1 keeps its own order: its resolve waits behind its open.
        assert row_of(store, 1, "resolve").attempts == 0
        rx.behave = lambda _: "ok"
        assert d.dispatch(110) == 2
        assert [p["dedupKey"] for p in rx.payloads("ok")][1:] == ["triaged-1-open", "triaged-1-resolve"]


def test_a_429_holds_the_whole_receiver_until_its_retry_after(store: Store) -> None:
    """The receiver is throttling us: its other incidents' rows wait too, uncounted."""
    with Receiver(lambda p: "429:30" if p["incidentId"] == 1 else "ok") as rx:
        d = dispatcher(store, rx.url)
        enqueue(store, 1)
        enqueue(store, 2)
        assert d.dispatch(100) == 0
        assert [p["incidentId"] for p in rx.payloads()] == [1]
        assert (row_of(store, 2).status, row_of(store, 2).attempts) == ("pending", 0)
        enqueue(store, 3, now=110)
        assert d.dispatch(120) == 0  # still throttled: nothing sent, not even a new incident's
        assert len(rx.payloads()) == 1
        rx.behave = lambda _: "ok"
        assert d.dispatch(131) == 3


def test_a_429_hold_outlives_a_restart(store: Store) -> None:
    """The receiver asked for 30 s; the daemon restarts 10 s later: its queued pages
    still wait, instead of going at once into the limit that refused them."""
    with Receiver(lambda p: "429:30" if p["incidentId"] == 1 else "ok") as rx:
        enqueue(store, 1)
        enqueue(store, 2)
        assert dispatcher(store, rx.url).dispatch(100) == 0
        notifiers = {"pager": WebhookNotifier("pager", rx.url, timeout_s=2)}
        restarted = Dispatcher(store, notifiers, Backoff(jitter=0), clock=lambda: 110.0)
        assert restarted.dispatch(110) == 0
        assert [p["incidentId"] for p in rx.payloads()] == [1]
        rx.behave = lambda _: "ok"
        assert restarted.dispatch(131) == 2
        # Run out: a start after the hold is not held.
        enqueue(store, 3, now=140)
        later = Dispatcher(store, notifiers, Backoff(jitter=0), clock=lambda: 150.0)
        assert later.dispatch(150) == 1


# -- the loop under the real Runner -----------------------------------------------------


def daemon_for(tmp_path: Path, url: str, rules: str, *, timeout: str, backoff: str = "2s") -> Daemon:
    (tmp_path / "r.rules.yml").write_text(rules)
    (tmp_path / "t.yaml").write_text(
        "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 1s\n"
        f'notifiers: [{{name: hook, type: webhook, url: "{url}", timeout: {timeout}}}]\n'
        f"outbox: {{base_backoff: {backoff}}}\n"
    )
    return build(load_config(tmp_path / "t.yaml"), sources=[])


@pytest.fixture
def running() -> Iterator[Callable[[Daemon], Runner]]:
    runners: list[Runner] = []

    def start(daemon: Daemon) -> Runner:
        runner = Runner(daemon)
        runners.append(runner)
        runner.start()
        return runner

    yield start
    for runner in runners:
        runner.stop(flush_s=0)


def wait_for(what: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


ALWAYS = """groups:
  - name: g
    rules:
      - alert: Always
        expr: vector(1)
        labels: {severity: P1, service: alpha}
"""


def test_the_loop_keeps_detecting_while_a_page_hangs(
    tmp_path: Path, running: Callable[[Daemon], Runner]
) -> None:
    """Before, the cycle sent the page itself and stood still for the whole timeout
    (scrapes, rules, the watchdog's progress), once per attempt."""
    with Receiver(lambda _: "hang") as rx:
        runner = running(daemon_for(tmp_path, rx.url, ALWAYS, timeout="5s"))
        wait_for(rx.payloads, 5)  # the page is being sent, and hangs
        before = runner.progress.cycles
        time.sleep(2.6)
        assert runner.progress.cycles - before >= 2
        assert runner.progress.age() < 1.5
        rx.release.set()  # let the send fail now, so the runner stops at once


TWO = """groups:
  - name: g
    rules:
      - alert: First
        expr: vector(1)
        labels: {severity: P1, service: alpha}
      - alert: Second
        expr: vector(1)
        for: 3s
        labels: {severity: P0, service: beta}
"""


@pytest.mark.parametrize("failure", ["500", "hang"])
def test_a_new_p0_page_is_not_held_behind_another_incidents_failing_page(
    tmp_path: Path, running: Callable[[Daemon], Runner], failure: str
) -> None:
    """Incident 1's page fails (500, or no answer within the timeout) and waits out a
    30 s backoff; incident 2 opens 3 s later and is paged at once. Before, it waited
    behind incident 1's row for the whole backoff."""
    with Receiver(lambda p: failure if p["commonLabels"]["service"] == "alpha" else "ok", give_up_s=3) as rx:
        daemon = running(daemon_for(tmp_path, rx.url, TWO, timeout="1s", backoff="30s")).daemon
        wait_for(lambda: rx.arrivals(2), 10)
        opened = daemon.store.query("SELECT opened_at FROM incidents WHERE id = 2")[0]["opened_at"]
        assert rx.arrivals(2)[0] - opened < 1.5
        first = row_of(daemon.store, 1)
        assert first.status == "pending" and first.attempts == 1


def test_a_hung_receiver_does_not_delay_another_receivers_new_page(
    tmp_path: Path, running: Callable[[Daemon], Runner]
) -> None:
    """Every page to `slow` hangs until its 8 s timeout; a P0 opening 2 s in still
    reaches `fast` at once. Before, all receivers shared one round: `fast` waited for
    `slow`'s timeout (5-6 s here, 35 s behind a hung ONS)."""
    with Receiver(lambda _: "hang", give_up_s=9) as slow, Receiver(lambda _: "ok") as fast:
        (tmp_path / "r.rules.yml").write_text(TWO.replace("for: 3s", "for: 2s"))
        (tmp_path / "t.yaml").write_text(
            "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 1s\n"
            f"notifiers:\n  - {{name: slow, type: webhook, url: '{slow.url}', timeout: 8s}}\n"
            f"  - {{name: fast, type: webhook, url: '{fast.url}', timeout: 5s}}\n"
            "routes: [{receiver: slow}, {receiver: fast}]\n"
        )
        daemon = running(build(load_config(tmp_path / "t.yaml"), sources=[])).daemon
        wait_for(lambda: fast.arrivals(2), 10)
        opened = daemon.store.query("SELECT opened_at FROM incidents WHERE id = 2")[0]["opened_at"]
        assert fast.arrivals(2)[0] - opened < 2.0  # before: 5-6 s, the rest of `slow`'s timeout
        assert fast.arrivals(1)  # the first incident's page too, while `slow` hung on it
        assert [p["incidentId"] for p in slow.payloads()] == [1]  # still hanging on it


def test_a_send_in_flight_at_stop_neither_holds_up_the_exit_nor_goes_unrecorded(tmp_path: Path) -> None:
    """stop() returns within its flush bound while a page takes 2 s; the lane is a
    daemon thread (the exit does not wait for it) and the store stays open for it, so
    the page that got through is recorded as sent, not sent again after a restart."""
    with Receiver(lambda _: "slow:2") as rx:
        runner = Runner(daemon_for(tmp_path, rx.url, ALWAYS, timeout="5s"))
        runner.start()
        wait_for(rx.payloads, 5)  # the page is in flight
        (lane,) = [t for t in threading.enumerate() if t.name == "dispatch:hook"]
        assert lane.daemon
        started = time.monotonic()
        runner.stop(flush_s=0.2)
        assert time.monotonic() - started < 1.9
        store = runner.daemon.store
        wait_for(lambda: row_of(store, 1).status == "sent", 5)
        lane.join(5)
        store.close()
