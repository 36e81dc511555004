"""Pages through OCI Notifications (ONS): one topic per severity, ``default`` fallback.

Delivery policy lives in the outbox; this notifier only publishes and classifies:

* 429, 5xx, 409, timeouts, connection errors, an open circuit breaker → retryable
  :class:`NotifyError` (with ``retry_after`` when known);
* 400, 401, 403, 404 → permanent, naming the topic, the OCI code and opc-request-id;
* a 2xx without ONS's ``messageId`` (not ONS's answer) → retryable.

A publish has one total deadline, the client's connect plus read timeout
(``oci.timeouts``, 5 s + 30 s by default): the SDK's own timeouts apply to each socket
read, so an endpoint answering a byte a second would never time out. The SDK's session
is watched (:mod:`triaged.httpdeadline`) and cut off at the deadline; ONS throttling
is per topic, so unlike a webhook's 429 it does not hold the whole receiver.

ONS accepts 60 messages per minute per topic, and delivers at most 10 a minute to an
email subscription. A per-topic rolling limit (``per_topic_per_minute``, at most that
many in any 60 s) shapes publishing; over it the message is *not* dropped: a retryable
error with ``retry_after`` = seconds until the limit allows it sends it back to the
outbox.

Titles (email subject, PagerDuty title, lock screen) are ``message.title`` with the
severity tag ``[P1]`` added when missing and an event tag in front:
``[RESOLVED]``, ``[ACK]``, ``[ESCALATED]``, ``[REPAGE]``, ``[REMINDER]`` (open has
none), unless the title's own tags name the event already (``[P0][ESCALATED from
P1] …``, as triaged's messages are titled for every receiver). Title and body
together stay within 64 KB as sent (JSON-encoded); an oversized body is cut on a
character boundary and ends with ``…[truncated N bytes]``, while the facts block
(severity, service, links, incident id, ack command, dedup key) is always kept.
Lines of the message body that the facts block repeats (the runbook link, the ack
command) are left out of the summary; an ack or resolve notice has no ack command.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from triaged.clock import Clock, SystemClock
from triaged.cloud import sdk
from triaged.cloud.clients import Failure, classify
from triaged.cloud.ratelimit import RollingLimit
from triaged.httpdeadline import Watch, deadline, watch_session
from triaged.model import Severity, format_value
from triaged.notifiers.base import Event, Message, NotifyError, Receipt

MAX_MESSAGE_BYTES = 65536
MAX_TITLE_CHARS = 256
MAX_FACT_CHARS = 1024
MAX_ALERTS_LISTED = 50
_EVENT_TAGS = {
    Event.OPEN: "",
    Event.ESCALATE: "[ESCALATED] ",
    Event.REPAGE: "[REPAGE] ",
    Event.ACK: "[ACK] ",
    Event.RESOLVE: "[RESOLVED] ",
    Event.REMINDER: "[REMINDER] ",
    Event.HEARTBEAT: "[HEARTBEAT] ",
}
# Words that, in a title's leading tags, already name the event (``[RE-PAGE 2]``).
_EVENT_WORDS = {
    Event.ESCALATE: ("ESCALATED",),
    Event.REPAGE: ("REPAGE", "RE-PAGE"),
    Event.ACK: ("ACK",),
    Event.RESOLVE: ("RESOLVED",),
    Event.REMINDER: ("REMINDER",),
    Event.HEARTBEAT: ("HEARTBEAT",),
}
_NO_ACK_HINT = frozenset({Event.ACK, Event.RESOLVE, Event.HEARTBEAT})


class OnsNotifier:
    """Implements :class:`~triaged.notifiers.base.Notifier` for ONS topics."""

    def __init__(
        self,
        name: str,
        topics: Mapping[Severity | str, str],
        client_factory: Callable[[], Any],
        *,
        per_topic_per_minute: int = 60,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        clock: Clock | None = None,
    ) -> None:
        self._name = name
        self.topics = _normalise_topics(topics)
        self._client = client_factory
        self.max_message_bytes = max_message_bytes
        self._clock = clock or SystemClock()
        self._limits = {t: RollingLimit(per_topic_per_minute) for t in set(self.topics.values())}
        self.errors_by_kind: Counter[str] = Counter()
        self.sent = 0

    @property
    def name(self) -> str:
        return self._name

    def topic_for(self, severity: Severity) -> str | None:
        return self.topics.get(severity) or self.topics.get("default")

    def send(self, message: Message, now: float | None = None) -> Receipt:
        topic = self.topic_for(message.severity)
        if topic is None:
            self.errors_by_kind["no_topic"] += 1
            raise NotifyError(
                f"ons {self._name}: no topic for {message.severity} and no default", permanent=True
            )
        now = self._clock.now() if now is None else now
        limit = self._limits[topic]
        if not limit.try_take(now):
            wait = limit.wait_time(now)
            self.errors_by_kind["rate_limited"] += 1
            raise NotifyError(
                f"ons topic {topic}: per-topic rate limit reached, retry in {wait:.1f}s",
                retry_after=wait,
                deferred=True,  # held back here, not refused by ONS: no attempt spent
            )
        title, body = render(message, self.max_message_bytes)
        return self._publish(topic, title, body, limit, now)

    def _publish(self, topic: str, title: str, body: str, limit: RollingLimit, now: float) -> Receipt:
        watch: Watch | None = None
        bound = 0.0
        try:
            oci = sdk()

            details = oci.ons.models.MessageDetails(title=title, body=body)
            client = self._client()
            bound = _total_timeout(client)
            with deadline(bound) as watch:
                response = client.publish_message(
                    topic, details, retry_strategy=oci.retry.NoneRetryStrategy()
                )
        # A boundary: every failure is classified here and only here.
        except Exception as exc:
            failure = classify(exc)
            if watch is not None and watch.fired and failure.status is None:
                # Cut off before an answer: whatever the SDK made of it, it is a timeout.
                failure = Failure("timeout", True, detail=f"timed out after {bound:g}s")
            self.errors_by_kind[failure.kind] += 1
            retry_after = failure.retry_after
            if failure.kind == "throttled":
                limit.drain(now)  # ONS disagrees with our count: slow this topic down
                retry_after = retry_after or max(1.0, limit.wait_time(now))
            raise NotifyError(
                f"ons topic {topic}: {failure.detail}",
                permanent=not failure.retryable,
                retry_after=retry_after,
            ) from None
        message_id = getattr(response.data, "message_id", None)
        if not message_id:
            # ONS answers every publish with its messageId. A 2xx without one came from
            # something else in the way (a proxy's page): nothing says the page went out,
            # so it is retried (its dedup key lets a receiver spot a repeat), never dropped.
            self.errors_by_kind["unreadable"] += 1
            kind = str((getattr(response, "headers", None) or {}).get("content-type", "")) or "none"
            raise NotifyError(
                f"ons topic {topic}: HTTP {response.status} without a messageId, publish not "
                f"confirmed (content-type {kind})"
            )
        self.sent += 1
        return Receipt(message_id=str(message_id))


def _total_timeout(client: Any) -> float:
    """The client's connect + read timeout, as one deadline for the whole publish; its
    session is watched from now on. Unknown shapes get the SDK's defaults (10 s + 60 s)."""
    base = getattr(client, "base_client", None)
    watch_session(getattr(base, "session", None))
    timeout = getattr(base, "timeout", None)
    if isinstance(timeout, int | float):
        return 2.0 * float(timeout)
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(isinstance(t, int | float) for t in timeout):
        return float(timeout[0]) + float(timeout[1])
    return 70.0


def _normalise_topics(topics: Mapping[Severity | str, str]) -> dict[Severity | str, str]:
    out: dict[Severity | str, str] = {}
    for key, topic in topics.items():
        if isinstance(key, Severity):
            out[key] = topic
        elif key.lower() == "default":
            out["default"] = topic
        else:
            out[Severity.parse(key)] = topic
    return out


# -- rendering ---------------------------------------------------------------------------


def render_title(message: Message) -> str:
    title = " ".join(message.title.split())
    tag = f"[{message.severity}]"
    if not title.startswith(tag):
        title = f"{tag} {title}"
    event_tag = _EVENT_TAGS.get(message.event, "")
    if event_tag and not _tagged(title, _EVENT_WORDS.get(message.event, ())):
        title = event_tag + title
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _tagged(title: str, words: tuple[str, ...]) -> bool:
    """Whether one of the title's leading ``[…]`` tags starts with one of ``words``."""
    rest = title
    while rest.startswith("["):
        tag, _, rest = rest[1:].partition("]")
        if tag.upper().startswith(words):
            return True
        rest = rest.lstrip()
    return False


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(message: Message) -> str | None:
    for alert in message.alerts:
        if alert.value is not None:
            return format_value(alert.value)
    return message.annotations.get("value")


def render_facts(message: Message) -> str:
    facts = [
        ("Severity", str(message.severity)),
        ("Service", message.service),
        ("Event", str(message.event)),
        ("Value", _value(message)),
        ("Started", _utc(message.started_at)),
        ("Resolved", _utc(message.resolved_at) if message.resolved_at else None),
        ("Runbook", message.annotations.get("runbook_url")),
        ("Dashboard", message.annotations.get("dashboard_url")),
        ("Incident", str(message.incident_id)),
        (
            "Acknowledge",
            None if message.event in _NO_ACK_HINT else f"triaged incidents ack {message.incident_id}",
        ),
        ("Dedup key", message.dedup_key),
    ]
    return "\n".join(f"{k}: {v[:MAX_FACT_CHARS]}" for k, v in facts if v)


def render_alerts(message: Message) -> str:
    if not message.alerts:
        return ""
    lines = [f"Alerts ({len(message.alerts)}):"]
    for alert in message.alerts[:MAX_ALERTS_LISTED]:
        labels = ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        value = "" if alert.value is None else f" value={format_value(alert.value)}"
        lines.append(f"- {alert.rule} [{alert.state}]{value} {{{labels}}}")
    if len(message.alerts) > MAX_ALERTS_LISTED:
        lines.append(f"… and {len(message.alerts) - MAX_ALERTS_LISTED} more")
    return "\n".join(lines)


def render(message: Message, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, str]:
    """Title and body, together within ``max_bytes`` as JSON on the wire."""
    title = render_title(message)
    facts = render_facts(message)
    repeated = set(facts.splitlines())
    summary = "\n".join(line for line in message.body.strip().split("\n") if line not in repeated)
    alerts = render_alerts(message)
    full = "\n\n".join(p for p in (summary, facts, alerts) if p)
    if _wire_size(title, full) <= max_bytes:
        return title, full
    head = f"{summary}\n\n{facts}\n\n"
    if alerts and _wire_size(title, head) <= max_bytes:
        return title, fit(title, head, alerts, "", max_bytes)
    return title, fit(title, "", summary, "\n\n" + facts, max_bytes)


def _wire_size(title: str, body: str) -> int:
    # The SDK sends json.dumps(...) (ASCII-escaped), which is never smaller than the
    # UTF-8 text, so this bound satisfies either reading of "64 KB per message".
    return len(json.dumps({"title": title, "body": body}).encode())


def fit(title: str, before: str, text: str, after: str, max_bytes: int) -> str:
    """``before + text + after`` with ``text`` cut (at a character, hence UTF-8,
    boundary) and marked so the whole message fits in ``max_bytes``."""
    total = len(text.encode())

    def build(keep: int) -> str:
        cut = len(text[:keep].encode())
        return f"{before}{text[:keep]}\n…[truncated {total - cut} bytes]{after}"

    lo, hi = 0, len(text)
    if _wire_size(title, build(0)) > max_bytes:
        return build(0)  # cannot fit even the frame; the server's 400 will say so
    while lo < hi:  # largest prefix that fits
        mid = (lo + hi + 1) // 2
        if _wire_size(title, build(mid)) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return build(lo)
