"""The webhook receiver over real HTTP: Alertmanager v4 payload, error classification."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pytest_httpserver import HTTPServer

from triaged.messages import AlertSummary, Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.webhook import WebhookNotifier

MSG = Message(
    dedup_key="triaged-7-open", event=Event.OPEN, incident_id=7, severity=Severity.P1,
    title="[P1] BharatMart: P95 latency 740ms > 500 ms", body="body", service="bharatmart-api",
    started_at=1_790_000_000.0, labels={"service": "bharatmart-api"},
    alerts=(AlertSummary("HighP95Latency", {"alertname": "HighP95Latency", "severity": "P1"},
                         {"summary": "slow"}, 0.74, "firing", 1_790_000_000.0),),
)  # fmt: skip


def test_posts_alertmanager_v4_payload_with_dedup_key(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    WebhookNotifier("hook", httpserver.url_for("/hook")).send(MSG)
    (req,) = [r for r, _ in httpserver.log if r.path == "/hook"]
    body = req.get_json()
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["groupKey"] == "incident:7"
    assert body["dedupKey"] == "triaged-7-open"
    assert body["alerts"][0]["labels"]["alertname"] == "HighP95Latency"
    assert body["alerts"][0]["startsAt"].startswith("2026-")
    assert body["commonLabels"]["severity"] == "P1"


# Recorded from Alertmanager 0.25 (POST /api/v2/alerts, then GET: its "fingerprint").
AM_FINGERPRINTS = [
    ({"alertname": "HighP95Latency", "service": "bharatmart-api", "severity": "P1"}, "289fe44828c72052"),
    ({"alertname": "X"}, "d2aeefc389ca7746"),
    ({"a": "é", "b": ""}, "0019cb2f2449a23e"),  # an empty value is no label there
]


@pytest.mark.parametrize(("labels", "expected"), AM_FINGERPRINTS)
def test_each_alert_carries_alertmanagers_fingerprint(
    httpserver: HTTPServer, labels: dict[str, str], expected: str
) -> None:
    """Receivers that key on `fingerprint` (one alert, one ticket) must not see every
    alert as the same empty one."""
    alert = AlertSummary("X", labels, {}, 1.0, "firing", 1_790_000_000.0)
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    WebhookNotifier("hook", httpserver.url_for("/hook")).send(replace(MSG, alerts=(alert,)))
    (req,) = [r for r, _ in httpserver.log if r.path == "/hook"]
    assert req.get_json()["alerts"][0]["fingerprint"] == expected


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (400, True), (404, True)]
)
def test_errors_are_classified_at_the_edge(httpserver: HTTPServer, status: int, permanent: bool) -> None:
    httpserver.expect_oneshot_request("/hook").respond_with_data(
        "no", status=status, headers={"Retry-After": "30"}
    )
    with pytest.raises(NotifyError) as info:
        WebhookNotifier("hook", httpserver.url_for("/hook")).send(MSG)
    assert info.value.permanent is permanent
    assert f"HTTP {status}" in str(info.value)
    if status == 429:
        assert info.value.retry_after == 30


def test_connection_refused_and_timeout_are_retryable(httpserver: HTTPServer) -> None:
    import time

    with pytest.raises(NotifyError) as refused:
        WebhookNotifier("hook", "http://127.0.0.1:9/hook", timeout_s=1).send(MSG)
    assert not refused.value.permanent
    httpserver.expect_oneshot_request("/slow").respond_with_handler(lambda r: time.sleep(1.0))  # type: ignore[func-returns-value]
    started = time.monotonic()
    with pytest.raises(NotifyError, match="timed out"):
        WebhookNotifier("hook", httpserver.url_for("/slow"), timeout_s=0.2).send(MSG)
    assert time.monotonic() - started < 0.9


def test_oversized_payload_is_trimmed_to_the_receiver_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/hook").respond_with_data("ok")
    many = MSG.__class__(**{**MSG.__dict__, "alerts": MSG.alerts * 200})
    WebhookNotifier("hook", httpserver.url_for("/hook"), max_payload_bytes=8_000).send(many)
    (req,) = [r for r, _ in httpserver.log if r.path == "/hook"]
    assert len(req.data) <= 8_000
    assert len(req.get_json()["alerts"]) == 1
