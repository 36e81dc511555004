"""triaged's own health as OCI custom metrics, so an OCI alarm can page when
triaged itself is down (a dead watcher cannot page about its own death).

Posts ``heartbeat`` = 1 and ``open_incidents`` = N to the telemetry-ingestion
endpoint in ``namespace`` (default ``triaged``) with dimensions ``host`` and
``service``. Pair it with an alarm such as
``heartbeat[5m]{host = "..."}.absent()`` (or ``.count() < 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from triaged.cloud import sdk
from triaged.cloud.auth import one_line
from triaged.cloud.clients import classify
from triaged.cloud.config import HeartbeatConfig


class Heartbeat:
    """Call :meth:`beat` from a scheduler job every ``cfg.interval`` seconds."""

    def __init__(
        self,
        cfg: HeartbeatConfig,
        client: Callable[[], Any],
        *,
        host: str,
        open_incidents: Callable[[], int] | None = None,
    ) -> None:
        self.cfg = cfg
        self._client = client
        self.host = host
        self._open_incidents = open_incidents
        self.errors_by_kind: Counter[str] = Counter()
        self.sent = 0
        self.last_error: str | None = None

    def beat(self, now: float) -> str | None:
        """Post one datapoint per metric; returns an error line or None. Never raises."""
        try:
            oci = sdk()

            details = oci.monitoring.models.PostMetricDataDetails(
                metric_data=self._metric_data(oci, now), batch_atomicity="NON_ATOMIC"
            )
            response = self._client().post_metric_data(details, retry_strategy=oci.retry.NoneRetryStrategy())
        # A boundary: a failed heartbeat is reported, never allowed to stop the daemon.
        except Exception as exc:
            failure = classify(exc)
            self.errors_by_kind[failure.kind] += 1
            self.last_error = f"oci heartbeat: {failure.detail}"
            return self.last_error
        refused = _refused(response)
        if refused is not None:
            kind, reason = refused
            self.errors_by_kind[kind] += 1
            self.last_error = f"oci heartbeat: {reason}"
            return self.last_error
        self.sent += 1
        self.last_error = None
        return None

    def _metric_data(self, oci: Any, now: float) -> list[Any]:
        stamp = datetime.fromtimestamp(now, UTC)
        values = {"heartbeat": 1.0}
        if self._open_incidents is not None:
            values["open_incidents"] = float(self._open_incidents())
        models = oci.monitoring.models
        return [
            models.MetricDataDetails(
                namespace=self.cfg.namespace,
                compartment_id=self.cfg.compartment_id,
                name=name,
                dimensions={"host": self.host, "service": "triaged"},
                datapoints=[models.Datapoint(timestamp=stamp, value=value, count=1)],
            )
            for name, value in values.items()
        ]


def _refused(response: Any) -> tuple[str, str] | None:
    """``(kind, reason)`` when the post was not (wholly) taken, else None."""
    counted = getattr(response.data, "failed_metrics_count", None)
    if counted is None:  # OCI always counts: something else answered (a proxy's page)
        kind = str((getattr(response, "headers", None) or {}).get("content-type", "")) or "none"
        return "unreadable", f"HTTP {response.status} without OCI's answer (content-type {kind})"
    if not counted:
        return None
    rejected = getattr(response.data, "failed_metrics", None) or []
    why = one_line(str(getattr(rejected[0], "message", "") or ""), 200) if rejected else ""
    return "rejected", f"{counted} metric(s) rejected by OCI" + (f": {why}" if why else "")
