"""PagerDuty Events API v2 against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.harness import MakeHarness
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.pagerduty import PagerDutyNotifier
from triaged.store import outbox


class FakePagerDuty:
    def __init__(self, server: HTTPServer) -> None:
        self.events: list[dict[str, Any]] = []
        self.replies: list[tuple[int, dict[str, str]]] = []  # status, headers; then 202
        server.expect_request("/v2/enqueue", method="POST").respond_with_handler(self.handle)
        self.url = server.url_for("/v2/enqueue")

    def handle(self, request: Request) -> Response:
        if self.replies:
            status, headers = self.replies.pop(0)
            return Response(json.dumps({"status": "throttled", "message": "slow down"}), status, headers)
        event = json.loads(request.data)
        self.events.append(event)
        return Response(json.dumps({"status": "success", "dedup_key": event["dedup_key"]}), 202)


@pytest.fixture
def pd(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


def test_incident_triggers_acknowledges_and_resolves_one_pagerduty_alert(
    make_harness: MakeHarness, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "R0UTINGKEY")
    h = make_harness(
        f'notifiers:\n  - {{name: pd, type: pagerduty, url: "{pd.url}", routing_key_env: PD_KEY}}\n'
    )
    h.metrics.set("svc_latency", "api", 2)
    h.run(1)
    HumanActions(h.store, h.daemon.incidents.router).move(
        1, IncidentStatus.ACKNOWLEDGED, "asha", "", h.clock.t
    )
    h.metrics.set("svc_latency", "api", 0)
    h.run(15)
    assert [(e["event_action"], e["dedup_key"]) for e in pd.events] == [
        ("trigger", "triaged-1"),
        ("acknowledge", "triaged-1"),
        ("resolve", "triaged-1"),
    ]
    trigger = pd.events[0]
    assert trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["payload"]["severity"] == "error" and trigger["payload"]["summary"] == "[P1] api is slow"
    assert trigger["payload"]["custom_details"]["triaged_dedup_key"] == "triaged-1-open"


def test_429_retry_after_is_honoured(make_harness: MakeHarness, pd: FakePagerDuty) -> None:
    h = make_harness(f'notifiers:\n  - {{name: pd, type: pagerduty, url: "{pd.url}", routing_key: K}}\n')
    pd.replies = [(429, {"Retry-After": "90"})]
    h.metrics.set("svc_down", "api", 1)
    h.run(1)
    (row,) = outbox.rows_for_incident(h.store, 1)
    assert row.status == "pending" and row.due_at >= h.clock.t + 89
    h.run(80, step=10)
    assert pd.events == []
    h.run(20, step=10)
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    assert pd.events[0]["payload"]["severity"] == "critical"


def _message(body: str = "b") -> Message:
    return Message("triaged-7-open", Event.OPEN, 7, Severity.P1, "[P1] t", body, "api", 1.0)


def test_bad_request_is_permanent_and_oversized_events_are_trimmed(pd: FakePagerDuty) -> None:
    notifier = PagerDutyNotifier("pd", "K", url=pd.url, max_payload_bytes=8 * 1024)
    pd.replies = [(400, {})]
    with pytest.raises(NotifyError) as err:
        notifier.send(_message())
    assert err.value.permanent
    notifier.send(_message(body="x" * 50_000))  # trimmed to fit, still delivered
    sent = pd.events[0]
    assert sent["payload"]["custom_details"]["truncated"] is True
    assert len(json.dumps(sent)) <= 8 * 1024


def test_missing_routing_key_is_a_config_error(make_harness: MakeHarness) -> None:
    from triaged.errors import ConfigError

    with pytest.raises(ConfigError, match="PD_NOPE is empty"):
        make_harness("notifiers:\n  - {name: pd, type: pagerduty, routing_key_env: PD_NOPE}\n")
