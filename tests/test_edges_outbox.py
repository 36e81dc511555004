"""Outbox delivery details no other test pinned down (found by a mutation audit): page
order while another process is mid-send, the end of a 429 hold, and one timeout per
round for a receiver that hangs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from triaged.incidents.model import Incident, IncidentStatus
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.webhook import WebhookNotifier
from triaged.outbox.backoff import Backoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import Store, notify_state, outbox
from triaged.store import incidents as incident_rows
from triaged.testing.notifier import RecordingNotifier


def enqueue(store: Store, incident_id: int, event: Event = Event.OPEN, now: float = 100.0) -> None:
    while incident_rows.get_incident(store, incident_id) is None:
        incident_rows.insert_incident(store, Incident(0, f"g{incident_id}", "api", "t", Severity.P1,
                                                      IncidentStatus.DETECTED, 100, 100, 100))  # fmt: skip
    msg = Message(
        dedup_key=f"triaged-{incident_id}-{event.value}", event=event, incident_id=incident_id,
        severity=Severity.P1, title=f"[P1] {event.value}", body="b", service="api", started_at=100.0,
    )  # fmt: skip
    outbox.enqueue(store, incident_id=incident_id, event=event.value, receiver="pager",
                   dedup_key=msg.dedup_key, payload=msg.to_dict(), now=now)  # fmt: skip


def status_of(store: Store, incident_id: int, event: str) -> tuple[str, int]:
    (row,) = [r for r in outbox.rows_for_incident(store, incident_id) if r.event == event]
    return row.status, row.attempts


def test_a_resolve_waits_while_another_process_is_still_sending_the_open(store: Store) -> None:
    """A dispatcher of another process claimed the open page and is mid-send: the resolve
    of the same incident must not overtake it (on-call would get "resolved" for a page
    they never saw). Once that claim's lease runs out, the open goes first, then the
    resolve."""
    enqueue(store, 1, Event.OPEN, now=100)
    enqueue(store, 1, Event.RESOLVE, now=101)
    (claimed,) = notify_state.claim_due_in_order(store, 101, "otherhost:1:1:1", lease_s=60)
    assert claimed.event == "open"
    recorder = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": recorder}, Backoff(jitter=0), lease_s=60)
    assert d.dispatch(110) == 0
    assert recorder.sent == []
    assert status_of(store, 1, "resolve") == ("pending", 0)
    assert d.dispatch(101 + 60) == 2
    assert [m.dedup_key for m in recorder.sent] == ["triaged-1-open", "triaged-1-resolve"]


def test_pages_go_out_at_the_moment_the_receivers_retry_after_ends(store: Store) -> None:
    """The receiver answered 429 with Retry-After: 30: every page waits those 30 s, and
    not a round longer."""
    enqueue(store, 1, now=100)
    enqueue(store, 2, now=100)
    recorder = RecordingNotifier("pager")
    recorder.fail_with = NotifyError("HTTP 429", retry_after=30, throttled=True)
    d = Dispatcher(store, {"pager": recorder}, Backoff(jitter=0))
    assert d.dispatch(100) == 0
    recorder.fail_with = None
    assert d.dispatch(129) == 0
    assert d.dispatch(130) == 2
    assert sorted(m.dedup_key for m in recorder.sent) == ["triaged-1-open", "triaged-2-open"]


class HangingReceiver:
    """An HTTP receiver on 127.0.0.1 that reads each request and never answers (until
    the test ends). Counts the requests it got."""

    def __init__(self) -> None:
        self.requests = 0
        self._done = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.requests += 1
            t = threading.Thread(target=self._hold, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self._done.wait(10)

    def __enter__(self) -> HangingReceiver:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._accept.join(2)
        self._sock.close()


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    with HangingReceiver() as rx:
        yield rx


def test_a_hung_receiver_costs_one_timeout_per_round_not_one_per_incident(
    store: Store, hanging: HangingReceiver
) -> None:
    """Three incidents' pages for a receiver that hangs: the first send times out (1 s)
    and the other two wait for the next round untried, so the round (and the lane that
    also carries new pages) is held up once, not three times."""
    for incident_id in (1, 2, 3):
        enqueue(store, incident_id, now=100)
    d = Dispatcher(store, {"pager": WebhookNotifier("pager", hanging.url, timeout_s=1.0)}, Backoff(jitter=0))
    started = time.monotonic()
    assert d.dispatch(100) == 0
    took = time.monotonic() - started
    assert hanging.requests == 1
    attempts = sorted(status_of(store, i, "open")[1] for i in (1, 2, 3))
    assert attempts == [0, 0, 1]
    assert all(status_of(store, i, "open")[0] == "pending" for i in (1, 2, 3))
    assert took < 2.0
