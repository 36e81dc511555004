"""Delivery through a receiver that fails: nothing lost, nothing twice, in order,
Retry-After honoured, fallback when the primary stays down."""

from __future__ import annotations

from pipeline.harness import MakeHarness, webhook
from triaged.store import incidents as rows
from triaged.store import outbox
from triaged.testing.receiver import RecordingReceiver

DOWN = 10**9  # RecordingReceiver: fail every request until reset


def keys(r: RecordingReceiver) -> list[str]:
    return [p["dedupKey"] for p in r.payloads()]


def test_a_receiver_down_for_ten_minutes_gets_every_page_once_in_order(
    make_harness: MakeHarness, receiver: RecordingReceiver
) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url))
    receiver.fail_next = DOWN
    # Over ten minutes: three services break, one recovers and resolves, one escalates.
    h.metrics.set("svc_latency", "api", 2)
    h.run(60)
    h.metrics.set("svc_errors", "cart", 1)
    h.run(60)
    h.metrics.set("svc_latency", "api", 0)
    h.run(120)  # api resolves after the 10 s hold
    h.metrics.set("svc_disk", "search", 0.95)
    h.run(60)
    h.metrics.set("svc_down", "cart", 1)  # cart escalates P2 → P0
    h.run(300)
    assert receiver.payloads() == []
    queued = [r.dedup_key for r in _rows_in_order(h)]
    assert len(queued) == 5  # api open+resolve, cart open+escalate, search open
    receiver.fail_next = 0  # the receiver is back
    h.run(120, step=5)
    assert sorted(keys(receiver)) == sorted(queued), "every page delivered"
    assert len(set(keys(receiver))) == len(keys(receiver)), "none twice"
    # Each incident's rows in the order they were recorded; incidents do not wait on
    # each other (each head row has its own retry schedule).
    assert _per_incident(keys(receiver)) == _per_incident(queued), "each incident's in order"
    assert outbox.counts(h.store) == {"sent": 5}


def _per_incident(dedup_keys: list[str]) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for key in dedup_keys:  # triaged-<incident>-<event>
        by.setdefault(key.split("-")[1], []).append(key)
    return by


def _rows_in_order(h: object) -> list[outbox.OutboxRow]:
    store = h.store  # type: ignore[attr-defined]
    found = store.query("SELECT id FROM outbox ORDER BY COALESCE(first_due_at, created_at), id")
    from triaged.store.outbox import get_row

    return [get_row(store, r["id"]) for r in found]


def test_429_with_retry_after_is_waited_out(make_harness: MakeHarness, receiver: RecordingReceiver) -> None:
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url))
    receiver.fail_next, receiver.fail_status, receiver.retry_after = 1, 429, "120"
    h.metrics.set("svc_latency", "api", 2)
    h.run(1)
    (row,) = outbox.rows_for_incident(h.store, 1)
    assert row.status == "pending" and "429" in (row.last_error or "")
    assert row.due_at >= h.clock.t + 119  # not the 2 s backoff: the receiver asked for 120 s
    h.run(100, step=5)
    assert receiver.payloads() == []
    h.run(25, step=5)
    assert keys(receiver) == ["triaged-1-open"]


def test_fallback_receiver_gets_the_page_when_the_primary_keeps_failing(make_harness: MakeHarness) -> None:
    with RecordingReceiver() as primary, RecordingReceiver() as backup:
        h = make_harness(
            "notifiers:\n"
            + webhook("primary", primary.url)
            + webhook("backup", backup.url)
            + "route: {receiver: primary}\n"
            + "fallback:\n  - {receiver: primary, to: backup, after: 2m, severities: [P0, P1]}\n"
        )
        primary.fail_next = DOWN
        h.metrics.set("svc_latency", "api", 2)
        h.run(100)
        assert backup.payloads() == []  # not yet: the primary may still recover
        h.run(30)
        assert keys(backup) == ["triaged-1-open"]
        fallback = [t for t in rows.timeline(h.store, 1) if t["kind"] == "notification_fallback"]
        assert len(fallback) == 1 and "backup" in fallback[0]["message"]
        # The primary comes back: it gets the page too, with the same dedup key.
        primary.fail_next = 0
        h.run(120, step=5)
        assert keys(primary) == ["triaged-1-open"]
        assert keys(backup) == ["triaged-1-open"]


def test_a_p3_page_does_not_fall_back_when_only_p0_p1_are_configured(make_harness: MakeHarness) -> None:
    with RecordingReceiver() as primary, RecordingReceiver() as backup:
        h = make_harness(
            "notifiers:\n"
            + webhook("primary", primary.url)
            + webhook("backup", backup.url)
            + "route: {receiver: primary}\n"
            + "fallback:\n  - {receiver: primary, to: backup, after: 1m}\n"
        )
        primary.fail_next = DOWN
        h.metrics.set("svc_disk", "search", 0.99)
        h.run(300, step=5)
        assert backup.payloads() == []


def test_a_restart_mid_incident_neither_repages_nor_forgets(
    make_harness: MakeHarness, receiver: RecordingReceiver, tmp_path: object
) -> None:
    from pathlib import Path

    db = Path(str(tmp_path)) / "restart.db"
    h = make_harness("notifiers:\n" + webhook("pager", receiver.url), db=db)
    h.metrics.set("svc_latency", "api", 2)
    h.run(5)
    receiver.fail_next = DOWN
    h.metrics.set("svc_down", "api", 1)  # escalation queued, not delivered yet
    h.run(2)
    h.daemon.close()
    h.daemon.store.close()
    # A new process on the same file: same alerts still firing.
    h2 = make_harness("notifiers:\n" + webhook("pager", receiver.url), db=db, clock=h.clock)
    h2.metrics.values = dict(h.metrics.values)
    receiver.fail_next = 0
    h2.run(60, step=5)
    assert keys(receiver) == ["triaged-1-open", "triaged-1-escalate-P0"]
    assert len(rows.list_incidents(h2.store)) == 1


def test_two_dispatchers_on_one_file_send_each_row_exactly_once(tmp_path: object) -> None:
    import threading
    from pathlib import Path

    from triaged.messages import Event, Message
    from triaged.model import Severity
    from triaged.outbox.dispatcher import Dispatcher
    from triaged.store import open_store
    from triaged.testing.notifier import RecordingNotifier

    path = Path(str(tmp_path)) / "two.db"
    first, second = open_store(path), open_store(path)
    for i in range(40):
        m = Message(f"triaged-{i}-open", Event.OPEN, i, Severity.P1, "t", "b", "api", 100.0)
        outbox.enqueue(first, incident_id=None, event="open", receiver=f"r{i % 4}", dedup_key=m.dedup_key,
                       payload=m.to_dict(), now=100)  # fmt: skip
    sent: list[RecordingNotifier] = []
    dispatchers = []
    for n, store in enumerate((first, second)):
        notifiers = {f"r{k}": RecordingNotifier(f"r{k}") for k in range(4)}
        sent.extend(notifiers.values())
        d = Dispatcher(store, notifiers)
        d.worker = f"process-{n}"  # as if two daemons on two hosts shared the file
        dispatchers.append(d)
    threads = [threading.Thread(target=lambda d=d: [d.dispatch(100) for _ in range(20)]) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys_sent = sorted(m.dedup_key for r in sent for m in r.sent)
    assert keys_sent == sorted(f"triaged-{i}-open" for i in range(40))
    first.close()
    second.close()
