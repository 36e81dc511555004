"""PagerDuty Events API v2: trigger, acknowledge and resolve one PagerDuty alert per incident.

PagerDuty's ``dedup_key`` names the alert, not one message, so it is the incident's
(``triaged-<id>``): escalations and re-pages trigger the same alert again (PagerDuty
folds them in), an ack acknowledges it, a resolve resolves it, and a re-send after a
crash is recognised as the same event. 202 is success; 429 and 5xx are retried,
honouring ``Retry-After``; 400 (a malformed event, a bad routing key) is permanent.

Reminders are never sent (see :data:`SKIPPED`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from triaged.errors import ConfigError
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers import http
from triaged.notifiers.base import NotifyError, Receipt

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
# PagerDuty rejects events over 512 KB; summaries are cut at 1024 characters.
MAX_PAYLOAD_BYTES = 512 * 1024
MAX_SUMMARY = 1024

_SEVERITY = {Severity.P0: "critical", Severity.P1: "error", Severity.P2: "warning", Severity.P3: "info"}
_ACTION = {Event.ACK: "acknowledge", Event.RESOLVE: "resolve"}

# Events PagerDuty never gets. A reminder ("action item #1 is overdue") is for an owner
# at work, not for the on-call at 3 a.m. As a trigger on the incident's key it would
# re-open the resolved incident's critical alert every day; with its own key at
# severity ``info`` it would still open a PagerDuty incident, and whether that pages
# is up to the service's urgency rules, not us. So it is not sent at all: the row is
# recorded as handled, with a message id that says why (routes take reminders only
# when they name them, so this is a second line of defence).
SKIPPED = frozenset({Event.REMINDER})
SKIPPED_ID = "not sent: PagerDuty pages, reminders go to a route that names them"


class PagerDutyNotifier:
    def __init__(
        self,
        name: str,
        routing_key: str,
        *,
        url: str = DEFAULT_URL,
        timeout_s: float = 10.0,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        source: str = "triaged",
        client_url: str = "",
    ) -> None:
        if not routing_key:
            raise ValueError(f"{name}: PagerDuty needs a routing key (integration key)")
        self._name = name
        self._routing_key = routing_key
        self.url = url
        self.timeout_s = timeout_s
        self.max_payload_bytes = max_payload_bytes
        self.source = source
        self.client_url = client_url
        self._session = http.new_session()  # cut off at the timeout, however slow the answer
        self._session.headers.update({"Content-Type": "application/json"})

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> Receipt:
        if message.event in SKIPPED:
            return Receipt(message_id=SKIPPED_ID)
        body = self._encode(message)
        resp = http.post(self._session, self._name, self.url, body, self.timeout_s)
        if resp.status_code in (200, 202):
            return Receipt(message_id=_answer(resp).get("dedup_key") or incident_dedup_key(message))
        http.fail(
            resp, f"{self._name}: HTTP {resp.status_code}: {_answer(resp).get('message', '')}".rstrip(": ")
        )

    def _encode(self, message: Message) -> bytes:
        event = pagerduty_event(message, self._routing_key, self.source, self.client_url)
        body = json.dumps(event).encode()
        if len(body) > self.max_payload_bytes and "payload" in event:
            # The summary and severity page the on-call; the details are a courtesy.
            event["payload"]["custom_details"] = {"body": message.body[:4000], "truncated": True}
            body = json.dumps(event).encode()
        if len(body) > self.max_payload_bytes:
            raise NotifyError(
                f"{self._name}: event {len(body)} bytes exceeds {self.max_payload_bytes}", permanent=True
            )
        return body


def incident_dedup_key(message: Message) -> str:
    return f"triaged-{message.incident_id}"


def pagerduty_event(message: Message, routing_key: str, source: str, client_url: str = "") -> dict[str, Any]:
    action = _ACTION.get(message.event, "trigger")
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": incident_dedup_key(message),
    }
    if action != "trigger":
        return event  # acknowledge and resolve carry only the key
    event["payload"] = {
        "summary": message.title[:MAX_SUMMARY],
        "source": message.labels.get("instance") or message.service or source,
        "severity": _SEVERITY[message.severity],
        "timestamp": datetime.fromtimestamp(message.started_at, UTC).isoformat(),
        "component": message.service or None,
        "group": message.labels.get("team") or None,
        "class": message.alerts[0].rule if message.alerts else None,
        "custom_details": {
            "body": message.body,
            "event": message.event.value,
            "triaged_dedup_key": message.dedup_key,
            "labels": dict(message.labels),
            # The lead alert's annotations (description, runbook, …) where PagerDuty
            # shows details; each alert keeps its own.
            "annotations": dict(message.annotations),
            "alerts": [
                {
                    "rule": a.rule,
                    "value": a.value,
                    "labels": dict(a.labels),
                    "annotations": dict(a.annotations),
                }
                for a in message.alerts
            ],
        },
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    links = _links(message)
    if links:
        event["links"] = links
    event["client"] = "triaged"
    if client_url:
        event["client_url"] = client_url
    return event


_LINKS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


def _links(message: Message) -> list[dict[str, str]]:
    """Clickable links on the PagerDuty alert: the runbook first, what on-call opens."""
    return [
        {"href": message.annotations[key], "text": text}
        for key, text in _LINKS
        if message.annotations.get(key, "").startswith(("http://", "https://"))
    ]


def _answer(resp: http.Answer) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def routing_key(name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The integration key from ``routing_key_env`` (or a literal ``routing_key``);
    ConfigError when there is none, so ``triaged check`` can say so before a start."""
    var = str(raw.get("routing_key_env", ""))
    key = env.get(var, "") if var else str(raw.get("routing_key", ""))
    if not key:
        where = f"${var} is empty or unset" if var else "routing_key is missing"
        raise ConfigError(f"notifiers.{name}: {where} (the PagerDuty integration key)")
    return key


def pagerduty_notifier(name: str, raw: Mapping[str, Any], timeout_s: float) -> PagerDutyNotifier:
    """From a ``type: pagerduty`` notifier section. The routing key is a secret: give it
    as ``routing_key_env: PD_ROUTING_KEY`` (read from the environment at start-up);
    a literal ``routing_key`` works but puts the secret in the file."""
    return PagerDutyNotifier(
        name,
        routing_key(name, raw, os.environ),
        url=str(raw.get("url") or DEFAULT_URL),
        timeout_s=timeout_s,
        max_payload_bytes=int(raw.get("max_payload_bytes", MAX_PAYLOAD_BYTES)),
        client_url=str(raw.get("client_url", "")),
    )
