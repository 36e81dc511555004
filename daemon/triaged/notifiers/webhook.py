"""Webhook receiver speaking Alertmanager's v4 payload, so existing receivers work.

2xx is success; 429 and 5xx are retryable (``Retry-After`` honoured); any other status
is permanent, as Alertmanager's own retrier decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from triaged.errors import public_url
from triaged.notifiers import http
from triaged.notifiers.base import Message, NotifyError, Receipt

_ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookNotifier:
    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_payload_bytes: int = 256 * 1024,
        headers: Mapping[str, str] | None = None,
        external_url: str = "",
    ) -> None:
        self._name = name
        self.url = url
        self.timeout_s = timeout_s
        self.max_payload_bytes = max_payload_bytes
        self.external_url = external_url
        self._session = http.new_session()  # cut off at the timeout, however slow the answer
        self._session.headers.update({"Content-Type": "application/json", **(headers or {})})

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> Receipt:
        body = self._encode(message)
        resp = http.post(self._session, self._name, self.url, body, self.timeout_s)
        if 200 <= resp.status_code < 300:
            return Receipt(message_id=resp.headers.get("X-Message-Id") or message.dedup_key)
        # The URL as shown: this text goes on the incident's timeline and into postmortems.
        http.fail(resp, f"{self._name}: HTTP {resp.status_code} from {public_url(self.url)}")

    def _encode(self, message: Message) -> bytes:
        payload = alertmanager_payload(message, self.name, self.external_url)
        body = json.dumps(payload).encode()
        if len(body) > self.max_payload_bytes:
            # Drop per-alert detail first: the incident header is what the on-call needs.
            payload["alerts"] = payload["alerts"][:1]
            payload["truncatedAlerts"] = max(0, len(message.alerts) - 1)
            body = json.dumps(payload).encode()
        if len(body) > self.max_payload_bytes:
            raise NotifyError(
                f"{self._name}: payload {len(body)} bytes exceeds {self.max_payload_bytes}", permanent=True
            )
        return body


def alertmanager_payload(message: Message, receiver: str, external_url: str = "") -> dict[str, Any]:
    common_labels = {**message.labels, "severity": message.severity.name}
    alerts = [
        {
            # Per alert, as Alertmanager: an ack lists alerts that cleared already too.
            "status": "resolved" if message.status == "resolved" or a.state == "resolved" else "firing",
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": _iso(a.started_at),
            "endsAt": _iso(a.ended_at) if a.ended_at else _ZERO_TIME,
            "generatorURL": "",
            "fingerprint": fingerprint(a.labels),
        }
        for a in message.alerts
    ] or [
        {
            "status": message.status,
            "labels": {**common_labels, "alertname": "triaged_incident"},
            # No alert is known (an incident recorded without any): the incident's own
            # annotations still carry the description and runbook, if it has them.
            "annotations": {**message.annotations, "summary": message.title},
            "startsAt": _iso(message.started_at),
            "endsAt": _iso(message.resolved_at) if message.resolved_at else _ZERO_TIME,
            "generatorURL": "",
            "fingerprint": fingerprint({**common_labels, "alertname": "triaged_incident"}),
        }
    ]
    return {
        "version": "4",
        "groupKey": f"incident:{message.incident_id}",
        "truncatedAlerts": 0,
        "status": message.status,
        "receiver": receiver,
        "groupLabels": dict(message.labels),
        "commonLabels": common_labels,
        "commonAnnotations": dict(message.annotations),
        "externalURL": external_url,
        "alerts": alerts,
        # triaged's own fields: receivers that know them dedupe re-sends after a crash.
        "dedupKey": message.dedup_key,
        "event": message.event.value,
        "incidentId": message.incident_id,
        "title": message.title,
        "body": message.body,
    }


_FNV_OFFSET, _FNV_PRIME, _U64 = 14695981039346656037, 1099511628211, 2**64 - 1


def fingerprint(labels: Mapping[str, str]) -> str:
    """An alert's fingerprint as Alertmanager computes it (so receivers that key on it,
    silencing or deduplicating tools, see one alert as one): 64-bit FNV-1a over the
    label names in order, each name and value followed by the byte 0xff, as 16 hex
    digits. Empty values are no labels, as there."""
    h = _FNV_OFFSET
    for name in sorted(n for n, v in labels.items() if v):
        for part in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * _FNV_PRIME) & _U64
    return f"{h:016x}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
