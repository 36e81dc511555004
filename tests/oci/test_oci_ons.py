"""Paging through ONS with the real SDK: content, topics, limits, failure classes."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from triaged.cloud.clients import ClientFactory
from triaged.cloud.config import MonitoringQuery
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.model import Severity
from triaged.notifiers.base import AlertSummary, Event, Message, NotifyError
from triaged.notifiers.oci_ons import OnsNotifier, fit, render
from triaged.outbox.backoff import Backoff as OutboxBackoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.sources.oci_monitoring import OciMonitoringSource
from triaged.store import open_store, outbox
from triaged.testing.fake_oci import FakeOci

TOPIC_P0 = "ocid1.onstopic.oc1..aaaap0"
TOPIC_P1 = "ocid1.onstopic.oc1..aaaap1"
TOPIC_DEFAULT = "ocid1.onstopic.oc1..aaaadefault"
TOPICS: dict[Severity | str, str] = {
    Severity.P0: TOPIC_P0, Severity.P1: TOPIC_P1, "default": TOPIC_DEFAULT,
}  # fmt: skip
STARTED = 1_795_000_000.0  # 2026-11-18T11:06:40Z


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def message(event: Event = Event.OPEN, severity: Severity = Severity.P1, **kw: Any) -> Message:
    fields: dict[str, Any] = {
        "dedup_key": f"incident-42-{event}",
        "event": event,
        "incident_id": 42,
        "severity": severity,
        "title": f"[{severity}] BharatMart: P95 latency 740 ms > 500 ms",
        "body": "Checkout p95 latency is above its SLO threshold.",
        "service": "bharatmart",
        "started_at": STARTED,
        "annotations": {
            "runbook_url": "https://runbooks.example/latency",
            "dashboard_url": "https://grafana.example/d/api",
        },
        "alerts": (AlertSummary("ApiLatencyHigh", {"route": "/checkout"}, {}, 0.74, "firing", STARTED),),
    }
    fields.update(kw)
    return Message(**fields)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def ons(factory: ClientFactory, clock: FakeClock) -> OnsNotifier:
    return OnsNotifier("oncall", TOPICS, factory.notification, clock=clock)


def test_publish_content_and_receipt(fake: FakeOci, ons: OnsNotifier) -> None:
    receipt = ons.send(message())
    (sent,) = fake.published
    assert receipt.message_id == sent.message_id and receipt.message_id
    assert sent.topic_id == TOPIC_P1
    assert sent.title == "[P1] BharatMart: P95 latency 740 ms > 500 ms"
    for line in [
        "Checkout p95 latency is above its SLO threshold.",
        "Severity: P1", "Service: bharatmart", "Value: 0.74",
        "Started: 2026-11-18T11:06:40Z",
        "Runbook: https://runbooks.example/latency",
        "Dashboard: https://grafana.example/d/api",
        "Incident: 42", "Acknowledge: triaged incidents ack 42",
        "Dedup key: incident-42-open",
        "- ApiLatencyHigh [firing] value=0.74 {route=/checkout}",
    ]:  # fmt: skip
        assert line in sent.body
    assert fake.calls("/messages")[0].verified is True
    assert ons.sent == 1


@pytest.mark.parametrize(
    ("severity", "topic"),
    [(Severity.P0, TOPIC_P0), (Severity.P1, TOPIC_P1), (Severity.P3, TOPIC_DEFAULT)],
)
def test_topic_per_severity_with_default(
    fake: FakeOci, ons: OnsNotifier, severity: Severity, topic: str
) -> None:
    ons.send(message(severity=severity))
    assert fake.published[0].topic_id == topic


def test_no_topic_and_no_default_is_permanent(factory: ClientFactory) -> None:
    only_p0 = OnsNotifier("oncall", {"critical": TOPIC_P0}, factory.notification)
    with pytest.raises(NotifyError) as info:
        only_p0.send(message(severity=Severity.P2))
    assert info.value.permanent


@pytest.mark.parametrize(
    ("event", "title"),
    [
        (Event.OPEN, "[P1] BharatMart: P95 latency 740 ms > 500 ms"),
        (Event.RESOLVE, "[RESOLVED] [P1] BharatMart: P95 latency 740 ms > 500 ms"),
        (Event.ACK, "[ACK] [P1] BharatMart: P95 latency 740 ms > 500 ms"),
        (Event.ESCALATE, "[ESCALATED] [P1] BharatMart: P95 latency 740 ms > 500 ms"),
        (Event.REPAGE, "[REPAGE] [P1] BharatMart: P95 latency 740 ms > 500 ms"),
    ],
)
def test_titles_per_event(fake: FakeOci, ons: OnsNotifier, event: Event, title: str) -> None:
    ons.send(message(event, resolved_at=STARTED + 600 if event is Event.RESOLVE else None))
    assert fake.published[0].title == title


def test_severity_tag_added_when_the_title_lacks_it() -> None:
    title, body = render(message(title="DB down", severity=Severity.P0, resolved_at=STARTED + 60))
    assert title == "[P0] DB down"
    assert "Resolved: 2026-11-18T11:07:40Z" in body


def test_oversized_message_is_truncated_within_64kb(fake: FakeOci, ons: OnsNotifier) -> None:
    huge = 'log line with ünïcödé and "quotes" €\n' * 4000  # ~150 KB of UTF-8
    ons.send(message(body=huge))
    (sent,) = fake.published  # the fake refuses anything over 64 KB
    wire = json.dumps({"title": sent.title, "body": sent.body}).encode()
    assert len(wire) <= 65536
    assert "…[truncated " in sent.body
    kept = sent.body.split("\n…[truncated ")[0]
    removed = int(sent.body.split("…[truncated ")[1].split(" bytes]")[0])
    assert len(kept.encode()) + removed == len(huge.strip().encode())
    # The facts an on-call needs survive truncation.
    assert "Acknowledge: triaged incidents ack 42" in sent.body
    assert sent.body.rstrip().endswith("Dedup key: incident-42-open")


def test_fit_cuts_on_a_character_boundary() -> None:
    text = "€" * 100  # three bytes each
    out = fit("t", "", text, "", 150)
    kept = out.split("\n…[truncated ")[0]
    assert set(kept) == {"€"}
    assert out.endswith(f"[truncated {300 - len(kept.encode())} bytes]")
    assert len(json.dumps({"title": "t", "body": out}).encode()) <= 150


def test_61st_message_in_a_minute_is_shaped_not_dropped(
    fake: FakeOci, ons: OnsNotifier, clock: FakeClock
) -> None:
    for i in range(60):
        ons.send(message(dedup_key=f"k{i}"))
    with pytest.raises(NotifyError) as info:
        ons.send(message(dedup_key="k60"))
    assert not info.value.permanent
    assert info.value.retry_after == pytest.approx(60.0), "all 60 went at once: a minute from now"
    assert len(fake.published) == 60  # nothing sent for the 61st
    ons.send(message(severity=Severity.P0))  # another topic has its own budget
    clock.t += 59.0
    with pytest.raises(NotifyError):
        ons.send(message(dedup_key="k60"))
    clock.t += 1.0
    ons.send(message(dedup_key="k60"))
    assert len(fake.published) == 62


def test_an_email_topic_never_gets_more_than_its_limit_in_any_minute(
    fake: FakeOci, factory: ClientFactory, clock: FakeClock
) -> None:
    # ONS delivers at most 10 a minute to an email subscription; an outage storm of
    # 25 incidents, retried as the outbox would, must reach it in [0, 10] per minute.
    ons = OnsNotifier(
        "email", {"default": TOPIC_DEFAULT}, factory.notification, per_topic_per_minute=10, clock=clock
    )
    start, sent_at, waiting = clock.t, [], [f"incident-{i}" for i in range(25)]
    rng = random.Random(5)
    while waiting:
        key = waiting[0]
        try:
            ons.send(message(dedup_key=key))
        except NotifyError as e:
            assert not e.permanent and e.retry_after is not None and e.retry_after > 0
            clock.t += min(e.retry_after, rng.uniform(0.5, 7.0))  # outbox ticks, sometimes early
            continue
        sent_at.append(clock.t)
        waiting.pop(0)
        clock.t += rng.uniform(0.0, 2.0)
    assert len(fake.published) == 25
    for t in sent_at:
        assert sum(t <= u < t + 60 for u in sent_at) <= 10, "more than 10 in one minute"
    assert sent_at[-1] - start < 135, "25 at 10 a minute: the last a little over 2 minutes on"


def test_a_clock_step_back_holds_pages_for_one_window_at_most(
    fake: FakeOci, ons: OnsNotifier, clock: FakeClock
) -> None:
    for i in range(60):
        ons.send(message(dedup_key=f"k{i}"))
    clock.t -= 3600.0  # NTP steps the clock back an hour
    with pytest.raises(NotifyError) as info:
        ons.send(message(dedup_key="k60"))
    assert info.value.retry_after == pytest.approx(60.0)
    clock.t += 60.0
    ons.send(message(dedup_key="k60"))


def test_throttled_by_ons_is_retryable_with_retry_after(fake: FakeOci, ons: OnsNotifier) -> None:
    fake.fail_next(1, 429, retry_after=30)
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert not info.value.permanent and info.value.retry_after == 30
    fake.fail_next(1, 429)  # no Retry-After: wait for our (now drained) bucket
    with pytest.raises(NotifyError) as info:
        ons.send(message(), now=ons._clock.now() + 120)
    assert not info.value.permanent and (info.value.retry_after or 0) >= 1


def test_server_error_is_retryable(fake: FakeOci, ons: OnsNotifier) -> None:
    fake.fail_next(1, 503, code="ServiceUnavailable")
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert not info.value.permanent
    assert TOPIC_P1 in str(info.value) and "503 ServiceUnavailable" in str(info.value)
    assert ons.errors_by_kind["server"] == 1


def test_wrong_key_is_a_permanent_clear_error(
    fake: FakeOci, make_cfg: Any, wrong_key: Any, tmp_path: Any
) -> None:
    from triaged.testing.fake_oci import write_credentials

    untrusted = write_credentials(tmp_path / "other", key=wrong_key)
    cfg = make_cfg(config_file=str(untrusted.config_file))
    ons = OnsNotifier("oncall", TOPICS, ClientFactory(cfg).notification)
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    err = info.value
    assert err.permanent
    text = str(err)
    assert TOPIC_P1 in text and "401 NotAuthenticated" in text and "opc-request-id" in text
    assert "\n" not in text
    assert fake.calls("/messages")[0].verified is False
    assert ons.errors_by_kind["auth"] == 1


def test_unknown_topic_is_permanent(fake: FakeOci, ons: OnsNotifier) -> None:
    fake.known_topics = {TOPIC_P0}
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert info.value.permanent and "404 NotAuthorizedOrNotFound" in str(info.value)


def test_hung_publish_is_bounded_and_retryable(fake: FakeOci, make_cfg: Any) -> None:
    fake.hang_next(1, path_contains="/messages")
    factory = ClientFactory(make_cfg(timeouts={"connect": "1s", "read": "500ms"}))
    ons = OnsNotifier("oncall", TOPICS, factory.notification)
    started = time.monotonic()
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert time.monotonic() - started < 3
    assert not info.value.permanent and "timed out" in str(info.value)


def test_monitoring_failures_do_not_open_the_paging_circuit(
    fake: FakeOci, factory: ClientFactory, ons: OnsNotifier
) -> None:
    """The SDK's default breaker is shared by every client: 10 Monitoring 500s would
    block the next page. Ours are per client."""
    fake.fail_next(12, 500, path_contains="summarizeMetricsData")
    query = MonitoringQuery("q", "ns", "M[1m].mean()", "ocid1.compartment.oc1..c")
    source = OciMonitoringSource(
        query,
        factory.monitoring,
        TokenBucket(100, 100),
        backoff=Backoff(1, 1, rng=random.Random(0)),
    )
    t = time.time()
    for _ in range(12):
        source.collect(t)
        t += 2
    assert source.errors_by_kind["server"] == 10
    assert source.errors_by_kind["circuit_open"] == 2  # the Monitoring breaker opened
    assert len(fake.calls("summarizeMetricsData")) == 10

    receipt = ons.send(message(severity=Severity.P0))  # paging still works
    assert receipt.message_id == fake.published[0].message_id


def test_open_ons_breaker_is_retryable_with_retry_after(fake: FakeOci, ons: OnsNotifier) -> None:
    fake.fail_next(10, 500, path_contains="/messages")
    for _ in range(10):
        with pytest.raises(NotifyError):
            ons.send(message(), now=time.time())
    with pytest.raises(NotifyError) as info:
        ons.send(message(), now=time.time())
    assert not info.value.permanent
    assert "circuit breaker triaged-notification open" in str(info.value)
    assert 1 <= (info.value.retry_after or 0) <= 30
    assert len(fake.calls("/messages")) == 10  # the 11th never left the process


def test_connection_refused_is_retryable(make_cfg: Any) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = make_cfg(endpoints={"notification": f"http://127.0.0.1:{port}"})
    ons = OnsNotifier("oncall", TOPICS, ClientFactory(cfg).notification)
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert not info.value.permanent
    assert ons.errors_by_kind["connection"] == 1


def test_a_page_while_the_metadata_service_fails_is_retried_not_dead_lettered(
    fake: FakeOci, make_cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instance-principal credentials load lazily, at the first page after a start:
    a metadata service answering errors then must leave the page to the outbox's
    retries. And the next callers fail at once instead of each waiting in turn."""
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{fake.url}/opc/v2")
    fake.fail_next(1, 503, path_contains="/opc/v2")
    factory = ClientFactory(make_cfg(auth="instance_principal", auth_timeout="5s", region="ap-mumbai-1"))
    ons = OnsNotifier("oncall", TOPICS, factory.notification)
    with pytest.raises(NotifyError) as info:
        ons.send(message())
    assert not info.value.permanent and "instance principal unavailable" in str(info.value)
    asked = len(fake.calls("/opc/v2"))
    started = time.monotonic()
    with pytest.raises(NotifyError) as again:
        ons.send(message())
    assert time.monotonic() - started < 0.5 and not again.value.permanent
    assert len(fake.calls("/opc/v2")) == asked  # not asked again within AUTH_RETRY_S
    assert fake.calls("/messages") == []


def test_a_storm_held_back_by_the_topic_limit_goes_out_at_its_pace_without_spending_attempts(
    fake: FakeOci, factory: ClientFactory, clock: FakeClock, tmp_path: Any
) -> None:
    """60 pages for a 10-a-minute email topic, through the outbox: the limit holds them
    back, which is not a failed send, so none backs off toward the 300 s cap; they go
    out as the topic allows, the last a little over five minutes on, each on attempt 1."""
    store = open_store(tmp_path / "t.db")
    ons = OnsNotifier(
        "email", {"default": TOPIC_DEFAULT}, factory.notification, per_topic_per_minute=10, clock=clock
    )
    start = clock.t
    for i in range(60):
        outbox.enqueue(
            store, incident_id=None, event="open", receiver="email", dedup_key=f"storm-{i}",
            payload=message(dedup_key=f"storm-{i}").to_dict(), now=start,
        )  # fmt: skip
    d = Dispatcher(store, {"email": ons}, OutboxBackoff(jitter=0), clock=lambda: clock.t)
    while outbox.counts(store).get("sent", 0) < 60 and clock.t - start < 1200:
        d.dispatch(clock.t)
        clock.t += 1.0

    assert len(fake.published) == 60
    assert clock.t - start < 315, "at 10 a minute the 60th goes out in the sixth minute"
    rows = [outbox.get_row(store, i) for i in range(1, 61)]
    assert {r.attempts for r in rows} == {1}, "a page held back locally spent no attempt"
