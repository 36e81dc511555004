"""OCI Monitoring MQL queries as timestamped samples.

One source per configured query. Each poll asks for a window that overlaps the
previous poll (late datapoints are common in OCI), and emits every datapoint with
its own timestamp, marked revisable (:attr:`Collected.revisable`):

* the newest bucket is often partial when first polled (the sum, count or max of a
  minute still being ingested); the next poll returns the same timestamp with the
  final value, and the tsdb replaces the stored one;
* OCI returns no point for an empty window, and posted metrics may be up to 2 h
  old, so a bucket can first appear older than one already stored; the tsdb inserts
  it in time order, as long as it is within the retention.

A re-sent point with the same value changes nothing. Rules evaluated while the old
value (or no value) was stored are not evaluated again: an alert that fired, or did
not, on a partial minute stands; the next evaluation sees the final values.

Naming, so rules can be written against it:

* metric: ``oci_<namespace>_<metric>``, where ``<metric>`` is the MQL name before
  ``[`` in snake case and ``<namespace>`` is lowercased; a namespace that already
  starts with ``oci_`` is not prefixed twice. Anything outside ``[a-z0-9_]`` becomes
  ``_``. ``CpuUtilization`` in ``oci_computeagent`` →
  ``oci_computeagent_cpu_utilization``; ``HttpRequests`` in ``bharatmart`` →
  ``oci_bharatmart_http_requests``. A query's ``metric:`` setting overrides it.
* labels: ``namespace``, ``query`` (the query's name), ``resource_group`` if set,
  and every dimension with its name made Prometheus-safe (non-alnum → ``_``; a
  name clashing with ours gets a ``dim_`` prefix).
* health: ``oci_query_up{query=...}`` is 1 after a successful call and 0 after a
  failure or while backing off, stamped with the poll time.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from triaged.cloud import sdk
from triaged.cloud.clients import classify, readable_items
from triaged.cloud.config import MonitoringQuery
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.model import METRIC_NAME, Labels, Sample
from triaged.sources.base import Collected

UP_METRIC = "oci_query_up"
_RESERVED = {METRIC_NAME, "namespace", "query", "resource_group"}
_CAMEL_1 = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_2 = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_UNSAFE = re.compile(r"[^a-z0-9_]")
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_]")
MAX_LABEL_VALUE = 1024


def metric_name(namespace: str, mql_metric: str) -> str:
    snake = _CAMEL_2.sub("_", _CAMEL_1.sub("_", mql_metric)).lower()
    ns = _UNSAFE.sub("_", namespace.lower())
    prefix = ns if ns.startswith("oci_") else f"oci_{ns}"
    name = _UNSAFE.sub("_", snake).strip("_")
    return f"{prefix}_{name}"


def label_name(dimension: str) -> str:
    name = _UNSAFE_LABEL.sub("_", dimension) or "_"
    if name[0].isdigit():
        name = f"_{name}"
    if name in _RESERVED or name.startswith("__"):
        name = f"dim_{name.lstrip('_')}"
    return name


class OciMonitoringSource:
    """Polls one MQL query. Never raises out of :meth:`collect`."""

    # A cycle waits this long for the answer (usually well under a second), then
    # evaluates without it: the points are minutes late by nature, and a call hanging
    # for its read timeout must not hold up rules over scrapes (triaged.polling).
    cycle_wait = 2.0

    def __init__(
        self,
        query: MonitoringQuery,
        client: Callable[[], Any],
        bucket: TokenBucket,
        *,
        backoff: Backoff | None = None,
        max_series: int = 2000,
        rng: random.Random | None = None,
    ) -> None:
        self.query = query
        self._client = client
        self._bucket = bucket  # shared by every Monitoring call: OCI allows 10 TPS
        self.backoff = backoff or Backoff(30.0, 600.0, rng=rng)
        self.max_series = max_series
        self.metric = query.metric or metric_name(query.namespace, query.mql_metric)
        self.errors_by_kind: Counter[str] = Counter()
        self.polls = 0
        self.skipped = 0
        self.last_error: str | None = None
        self._last_kind = ""  # of last_error: what the daemon compares (Collected.error_key)
        self._up = 0.0

    @property
    def key(self) -> str:
        return f"oci/monitoring/{self.query.name}"

    @property
    def interval(self) -> float:
        return self.query.interval

    def collect(self, now: float) -> Collected:
        t_ms = int(now * 1000)
        if self.backoff.blocked(now):
            self.skipped += 1
            wait = self.backoff.remaining(now)
            return self._failed(t_ms, f"{self.last_error} (backing off, next try in {wait:.0f}s)")
        if not self._bucket.try_take(now):
            # Our own shaping, not a failure: keep the previous up value and let the
            # next poll's overlapping window pick the data up.
            self.skipped += 1
            self.errors_by_kind["local_rate_limit"] += 1
            skipped = f"oci query {self.query.name}: skipped, max_tps reached"
            return Collected(
                t_ms, samples=[self._up_sample(self._up)], error=skipped, error_key=skipped, retry_in=0.0
            )
        self.polls += 1
        try:
            streams = self._fetch(now)
        # A boundary: any failure of the call (SDK, network, auth) becomes data.
        except Exception as exc:
            return self._record_failure(t_ms, now, exc)
        self.backoff.success()
        self.last_error = None
        self._up = 1.0
        samples, error = self._to_samples(streams)
        return Collected(
            t_ms, samples=[self._up_sample(1.0)], timestamped=samples, error=error, revisable=True
        )

    def _fetch(self, now: float) -> list[Any]:
        oci = sdk()

        q = self.query
        end = datetime.fromtimestamp(now, UTC)  # aware: a naive one is read as UTC anyway
        details = oci.monitoring.models.SummarizeMetricsDataDetails(
            namespace=q.namespace,
            query=q.query,
            start_time=end - timedelta(seconds=q.lookback),
            end_time=end,
            resolution=q.resolution,
            resource_group=q.resource_group,
        )
        response = self._client().summarize_metrics_data(
            q.compartment_id,
            details,
            compartment_id_in_subtree=q.compartment_in_subtree or None,
            retry_strategy=oci.retry.NoneRetryStrategy(),
        )
        return readable_items(response, "name")

    def _record_failure(self, t_ms: int, now: float, exc: Exception) -> Collected:
        failure = classify(exc)
        self.errors_by_kind[failure.kind] += 1
        self.last_error = f"oci query {self.query.name}: {failure.detail}"
        # Not the detail: it names a new opc-request-id at every attempt.
        kind = " ".join(str(part) for part in (failure.kind, failure.status, failure.code) if part)
        self._last_kind = f"oci query {self.query.name}: {kind}"
        if failure.retryable:
            self.backoff.failure(now, failure.retry_after)
        if failure.kind == "throttled":
            # OCI counts every query of the tenancy against one limit: the others
            # sharing this bucket hold off too, rather than each earning its own 429.
            self._bucket.drain(now)
        self._up = 0.0
        return self._failed(t_ms, self.last_error)

    def _failed(self, t_ms: int, error: str) -> Collected:
        return Collected(t_ms, samples=[self._up_sample(0.0)], error=error, error_key=self._last_kind)

    def _up_sample(self, value: float) -> tuple[Labels, float]:
        return Labels.of({METRIC_NAME: UP_METRIC, "query": self.query.name}), value

    def _to_samples(self, streams: list[Any]) -> tuple[list[Sample], str | None]:
        error = None
        if len(streams) > self.max_series:
            error = (f"oci query {self.query.name}: {len(streams)} streams, kept "
                     f"{self.max_series} (max_series_per_query)")  # fmt: skip
            self.errors_by_kind["series_limit"] += 1
            streams = streams[: self.max_series]
        out: list[Sample] = []
        for md in streams:
            labels = self._labels(md.dimensions or {})
            points = sorted(_points(md.aggregated_datapoints or []))
            out.extend(Sample(labels, t, v) for t, v in points)
        return out, error

    def _labels(self, dimensions: dict[str, str]) -> Labels:
        q = self.query
        labels = {METRIC_NAME: self.metric, "namespace": q.namespace, "query": q.name}
        if q.resource_group:
            labels["resource_group"] = q.resource_group
        # In sorted order, so a clash resolves the same way every poll: `a.b` and `a_b`
        # both make a_b, and two streams differing only there must stay two series.
        for key in sorted(dimensions):
            labels[_free_name(label_name(key), labels)] = str(dimensions[key])[:MAX_LABEL_VALUE]
        return Labels.of(labels)


def _free_name(name: str, taken: Mapping[str, str]) -> str:
    """``name``, or ``name_2``, ``name_3``… when a dimension before it has it."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _points(datapoints: Iterable[Any]) -> Iterable[tuple[int, float]]:
    for p in datapoints:
        if p.timestamp is None or p.value is None:
            continue
        yield int(p.timestamp.timestamp() * 1000), float(p.value)


def build_sources(
    queries: Iterable[MonitoringQuery],
    client: Callable[[], Any],
    *,
    max_tps: float = 10.0,
    backoff_initial: float = 30.0,
    backoff_max: float = 600.0,
    max_series: int = 2000,
    now: float | None = None,
) -> list[OciMonitoringSource]:
    """One source per query, all sharing one token bucket (the 10 TPS limit is per
    tenancy, not per query)."""
    bucket = TokenBucket(max_tps, max(1.0, max_tps), now=now)
    return [
        OciMonitoringSource(
            q, client, bucket, backoff=Backoff(backoff_initial, backoff_max), max_series=max_series
        )
        for q in queries
    ]
