"""The durable outbox and its dispatcher: recorded once, claimed once, retried with
backoff, dead-lettered on permanent errors, re-sent after a crash with the same key."""

from __future__ import annotations

from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.outbox.backoff import Backoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import Store, outbox
from triaged.testing.notifier import RecordingNotifier


def enqueue(store: Store, key: str = "triaged-1-open", receiver: str = "pager", now: float = 100) -> bool:
    msg = Message(dedup_key=key, event=Event.OPEN, incident_id=1, severity=Severity.P1,
                  title="[P1] t", body="b", service="api", started_at=now)  # fmt: skip
    return outbox.enqueue(store, incident_id=None, event="open", receiver=receiver,
                          dedup_key=key, payload=msg.to_dict(), now=now)  # fmt: skip


def test_same_dedup_key_and_receiver_is_recorded_once(store: Store) -> None:
    assert enqueue(store)
    assert not enqueue(store)
    assert enqueue(store, receiver="webhook")
    assert outbox.counts(store) == {"pending": 2}


def test_a_claimed_row_cannot_be_claimed_again_until_its_lease_ends(store: Store) -> None:
    enqueue(store)
    assert len(outbox.claim_due(store, 100, "a", lease_s=60)) == 1
    assert outbox.claim_due(store, 130, "b", lease_s=60) == []
    # Worker "a" died mid-send: after the lease the row is due again (a re-send, same key).
    (row,) = outbox.claim_due(store, 161, "b", lease_s=60)
    assert row.attempts == 2 and row.dedup_key == "triaged-1-open"


def test_retryable_failure_backs_off_then_delivers(store: Store) -> None:
    notifier = RecordingNotifier("pager")
    d = Dispatcher(store, {"pager": notifier}, Backoff(base_s=10, cap_s=100, jitter=0))
    enqueue(store)
    notifier.fail_with = NotifyError("HTTP 503")
    assert d.dispatch(100) == 0
    assert d.dispatch(105) == 0  # not due yet: no attempt
    assert store.query("SELECT attempts, due_at FROM outbox")[0] == {"attempts": 1, "due_at": 110}
    assert d.dispatch(110) == 0  # second failure: backoff doubles
    assert store.query("SELECT due_at FROM outbox")[0]["due_at"] == 130
    notifier.fail_with = None
    assert d.dispatch(130) == 1
    assert [m.dedup_key for m in notifier.sent] == ["triaged-1-open"]
    assert outbox.counts(store) == {"sent": 1}


def test_retry_after_from_the_receiver_is_honoured(store: Store) -> None:
    notifier = RecordingNotifier("pager")
    notifier.fail_with = NotifyError("HTTP 429", retry_after=45)
    d = Dispatcher(store, {"pager": notifier}, Backoff(base_s=1, jitter=0))
    enqueue(store)
    d.dispatch(100)
    assert store.query("SELECT due_at FROM outbox")[0]["due_at"] == 145


def test_permanent_failure_goes_to_dead_letter_at_once(store: Store) -> None:
    notifier = RecordingNotifier("pager")
    notifier.fail_with = NotifyError("HTTP 404", permanent=True)
    d = Dispatcher(store, {"pager": notifier})
    enqueue(store)
    d.dispatch(100)
    assert outbox.counts(store) == {"dead": 1}
    assert d.stats.dead == {"pager": 1}


def test_gives_up_after_max_attempts(store: Store) -> None:
    notifier = RecordingNotifier("pager")
    notifier.fail_with = NotifyError("HTTP 500")
    d = Dispatcher(store, {"pager": notifier}, Backoff(base_s=1, cap_s=1, max_attempts=3, jitter=0))
    enqueue(store)
    for t in range(100, 110):
        d.dispatch(t)
    assert outbox.counts(store) == {"dead": 1}
    assert store.query("SELECT attempts FROM outbox")[0]["attempts"] == 3


def test_backoff_is_capped_and_jittered() -> None:
    b = Backoff(base_s=2, cap_s=60, jitter=0.2)
    assert Backoff(base_s=2, cap_s=60, jitter=0).delay(1) == 2
    assert Backoff(base_s=2, cap_s=60, jitter=0).delay(10) == 60
    delays = {round(b.delay(3), 3) for _ in range(20)}
    assert len(delays) > 1 and all(6.4 <= d <= 9.6 for d in delays)
