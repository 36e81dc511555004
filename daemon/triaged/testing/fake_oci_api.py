"""The OCI operations :class:`~triaged.testing.fake_oci.FakeOci` serves, each checked
the way oci.md says the real service checks it, and the records it keeps of them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triaged.testing.oci_signing import RecordedRequest

if TYPE_CHECKING:
    from triaged.testing.fake_oci import FakeOci

DEFAULT_CODES = {429: "TooManyRequests", 401: "NotAuthenticated", 404: "NotAuthorizedOrNotFound"}
_MQL_NAME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*\[")
_MQL_EXACT_DIM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_MQL_INTERVAL = re.compile(r"\[\s*([^\]]*?)\s*\]")
# OCI's intervals and resolutions: 1m-60m, 1h-24h, 1d (oci.md, "Monitoring Query Language").
_MQL_UNITS = {"m": (60, 60), "h": (3600, 24), "d": (86400, 1)}
_TOPIC_PATH = re.compile(r"^/20181201/topics/([^/]+)(/messages)?$")


@dataclass(frozen=True)
class PublishedMessage:
    topic_id: str
    title: str | None
    body: str
    message_id: str


@dataclass
class MetricStream:
    namespace: str
    name: str
    dimensions: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)
    compartment_id: str | None = None
    resource_group: str | None = None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(text: object, default: float) -> float:
    if not isinstance(text, str):
        return default
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


Reply = tuple[int, Any, dict[str, str]]


def error(status: int, code: str, message: str) -> Reply:
    return status, {"code": code, "message": message}, {}


def _summarize(fake: FakeOci, req: RecordedRequest) -> Reply:
    compartment = (req.query.get("compartmentId") or [""])[0]
    body = req.json() or {}
    if not compartment or not body.get("namespace") or not body.get("query"):
        return error(400, "InvalidParameter", "compartmentId, namespace and query are required")
    match = _MQL_NAME.match(body["query"])
    if not match:
        return error(400, "InvalidParameter", "query is not valid MQL")
    interval = _MQL_INTERVAL.search(body["query"])
    interval_s = _mql_seconds(interval.group(1) if interval else "")
    resolution_s = _mql_seconds(body.get("resolution") or "1m")
    if interval_s is None or resolution_s is None:
        return error(400, "InvalidParameter", "interval and resolution must be 1m-60m, 1h-24h or 1d")
    if resolution_s > interval_s:
        return error(400, "InvalidParameter", "resolution must not be longer than the query interval")
    wanted = dict(_MQL_EXACT_DIM.findall(body["query"]))
    end = _parse_time(body.get("endTime"), time.time())
    start = _parse_time(body.get("startTime"), end - 3 * 3600)
    if start >= end:
        return error(400, "InvalidParameter", "startTime must be before endTime")
    out = []
    with fake._lock:
        streams = list(fake.streams)
    for s in streams:
        if (s.namespace, s.name) != (body["namespace"], match.group(1)):
            continue
        if s.compartment_id not in (None, compartment):
            continue
        if body.get("resourceGroup") and s.resource_group != body.get("resourceGroup"):
            continue
        if any(s.dimensions.get(k) != v for k, v in wanted.items()):
            continue
        points = [{"timestamp": _iso(t), "value": v} for t, v in s.points if start <= t < end]
        if points:
            out.append({
                "namespace": s.namespace, "resourceGroup": s.resource_group,
                "compartmentId": compartment, "name": s.name, "dimensions": s.dimensions,
                "metadata": {}, "resolution": body.get("resolution", "1m"),
                "aggregatedDatapoints": points,
            })  # fmt: skip
    return 200, out, {}


def _mql_seconds(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if not match:
        return None
    unit, most = _MQL_UNITS[match.group(2)]
    count = int(match.group(1))
    return count * unit if 1 <= count <= most else None


def _alarm_status(fake: FakeOci, req: RecordedRequest) -> Reply:
    if not req.query.get("compartmentId"):
        return error(400, "InvalidParameter", "compartmentId is required")
    status = (req.query.get("status") or [""])[0]
    limit = int((req.query.get("limit") or ["1000"])[0])
    offset = int((req.query.get("page") or ["0"])[0])
    with fake._lock:
        rows = [a for a in fake.alarms if not status or a.get("status") == status]
    size = max(1, min(limit, fake.alarm_page_size))
    page = rows[offset : offset + size]
    headers = {"opc-next-page": str(offset + size)} if offset + size < len(rows) else {}
    return 200, page, headers


def _post_metrics(fake: FakeOci, req: RecordedRequest) -> Reply:
    body = req.json() or {}
    data = body.get("metricData") or []
    with fake._lock:
        fake.posted_metrics.extend(data)
    return 200, {"failedMetricsCount": 0, "failedMetrics": []}, {}


def _topic(fake: FakeOci, req: RecordedRequest, topic_id: str, publish: bool) -> Reply:
    if fake.known_topics is not None and topic_id not in fake.known_topics:
        return error(404, "NotAuthorizedOrNotFound", f"topic {topic_id} not found")
    if not publish:
        return 200, {
            "name": topic_id.rsplit(".", 1)[-1], "topicId": topic_id, "shortTopicId": "t",
            "compartmentId": "ocid1.compartment.oc1..fake", "lifecycleState": "ACTIVE",
            "timeCreated": _iso(time.time()), "apiEndpoint": fake.url, "etag": "e1",
        }, {}  # fmt: skip
    body = req.json() or {}
    title, text = body.get("title"), body.get("body")
    if not isinstance(text, str):
        return error(400, "InvalidParameter", "body is required")
    size = len(text.encode()) + len((title or "").encode())
    if size > fake.max_message_bytes:
        return error(400, "InvalidParameter", f"message is {size} bytes, limit 64KB")
    message_id = f"ocid1.onsmessage.oc1..fake{fake._next_id():06d}"
    with fake._lock:
        fake.published.append(PublishedMessage(topic_id, title, text, message_id))
    return 200, {"messageId": message_id, "timeStamp": _iso(time.time())}, {}


def route(fake: FakeOci, req: RecordedRequest) -> Reply:
    path = req.path
    if req.method == "POST" and path == "/20180401/metrics/actions/summarizeMetricsData":
        return _summarize(fake, req)
    if req.method == "GET" and path == "/20180401/alarms/status":
        return _alarm_status(fake, req)
    if req.method == "POST" and path == "/20180401/metrics":
        return _post_metrics(fake, req)
    topic = _TOPIC_PATH.match(path)
    if topic and req.method == ("POST" if topic.group(2) else "GET"):
        return _topic(fake, req, topic.group(1), bool(topic.group(2)))
    return error(404, "NotAuthorizedOrNotFound", f"no route for {req.method} {path}")
