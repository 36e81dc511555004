"""Firing OCI alarms as ``oci_alarm_firing`` series.

Each poll lists the alarms that are FIRING now and writes one sample per alarm,
stamped with the poll time, in ``Collected.samples``. An alarm that stops firing
is simply absent from the next poll and the tsdb's staleness handling ends its
series, so rules see ``oci_alarm_firing`` exactly while OCI does.

A failed poll must not look like "every alarm cleared": that would resolve
incidents, page "resolved" while the alarm still fires and page again when OCI answers.
The last good answer is repeated until a poll succeeds (or for ``hold_for`` seconds,
if given) while ``oci_alarms_up`` reports 0, which a rule can alert on.

Labels: ``alarm`` (display name), ``alarm_id``, ``severity`` (critical, error,
warning, info), ``compartment_id``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from triaged.cloud import sdk
from triaged.cloud.clients import classify, readable_items
from triaged.cloud.config import AlarmsConfig
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.model import METRIC_NAME, Labels
from triaged.sources.base import Collected

FIRING_METRIC = "oci_alarm_firing"
UP_METRIC = "oci_alarms_up"


class _PollError(Exception):
    """Raised inside a poll only; turned into data before collect() returns."""


class OciAlarmsSource:
    """Imports firing alarms of one compartment. Never raises out of :meth:`collect`."""

    cycle_wait = 2.0  # as OciMonitoringSource: a hung call must not hold up the rules

    def __init__(
        self,
        cfg: AlarmsConfig,
        client: Callable[[], Any],
        bucket: TokenBucket | None = None,
        *,
        backoff: Backoff | None = None,
        hold_for: float | None = None,
    ) -> None:
        self.cfg = cfg
        self._client = client
        self._bucket = bucket
        self.backoff = backoff or Backoff(30.0, 600.0)
        self.hold_for = hold_for  # None: until the next good poll
        self.errors_by_kind: Counter[str] = Counter()
        self.last_error: str | None = None
        self._last_kind = ""  # of last_error: what the daemon compares (Collected.error_key)
        self._last_good: tuple[float, list[tuple[Labels, float]]] | None = None

    @property
    def key(self) -> str:
        return f"oci/alarms/{self.cfg.compartment_id}"

    @property
    def interval(self) -> float:
        return self.cfg.interval

    def collect(self, now: float) -> Collected:
        t_ms = int(now * 1000)
        if self.backoff.blocked(now):
            return self._held(t_ms, now, f"{self.last_error} (backing off)", self._last_kind)
        try:
            rows, truncated = self._fetch_all(now)
        except _PollError as exc:  # skipped by our own rate limiting: soon again
            held = self._held(t_ms, now, str(exc), str(exc))
            held.retry_in = 0.0
            return held
        # A boundary: any failure of the call (SDK, network, auth) becomes data.
        except Exception as exc:
            failure = classify(exc)
            self.errors_by_kind[failure.kind] += 1
            self.last_error = f"oci alarms: {failure.detail}"
            # What the daemon compares to log an outage once: not the detail, which names
            # a new opc-request-id at every attempt.
            kind = " ".join(str(part) for part in (failure.kind, failure.status, failure.code) if part)
            self._last_kind = f"oci alarms: {kind}"
            if failure.retryable:
                self.backoff.failure(now, failure.retry_after)
            if failure.kind == "throttled" and self._bucket is not None:
                self._bucket.drain(now)  # the queries sharing it hold off too
            return self._held(t_ms, now, self.last_error, self._last_kind)
        self.backoff.success()
        self.last_error = None
        samples = [(self._labels(row), 1.0) for row in rows]
        self._last_good = (now, samples)
        error = None
        if truncated:
            self.errors_by_kind["page_limit"] += 1
            error = f"oci alarms: more than {len(rows)} firing, kept the first (max_pages)"
        return Collected(t_ms, samples=[*samples, (self._up_labels(), 1.0)], error=error)

    def _fetch_all(self, now: float) -> tuple[list[Any], bool]:
        oci = sdk()

        rows: dict[str, Any] = {}  # by alarm id: one that moves between pages mid-listing is listed twice
        page: str | None = None
        asked: set[str] = set()
        for _ in range(self.cfg.max_pages):
            if self._bucket is not None and not self._bucket.try_take(now):
                self.errors_by_kind["local_rate_limit"] += 1
                raise _PollError("oci alarms: skipped, monitoring max_tps reached")
            # list_alarms_status is the one call that defaults to the SDK's retry
            # strategy (up to 8 attempts, minutes of sleeping): always pass ours.
            response = self._client().list_alarms_status(
                self.cfg.compartment_id,
                status="FIRING",
                compartment_id_in_subtree=self.cfg.compartment_in_subtree or None,
                limit=self.cfg.page_limit,
                page=page,
                retry_strategy=oci.retry.NoneRetryStrategy(),
            )
            rows.update((row.id, row) for row in readable_items(response, "id"))
            page = response.next_page
            if not page or page in asked:  # a repeated token would list the same page again
                return list(rows.values()), False
            asked.add(page)
        return list(rows.values()), True

    def _labels(self, row: Any) -> Labels:
        return Labels.of(
            {
                METRIC_NAME: FIRING_METRIC,
                "alarm": str(row.display_name or row.id),
                "alarm_id": str(row.id),
                "severity": str(row.severity or "").lower(),
                "compartment_id": self.cfg.compartment_id,
            }
        )

    def _up_labels(self) -> Labels:
        return Labels.of({METRIC_NAME: UP_METRIC, "compartment_id": self.cfg.compartment_id})

    def _held(self, t_ms: int, now: float, error: str, error_key: str) -> Collected:
        samples: list[tuple[Labels, float]] = []
        last = self._last_good
        if last is not None and (self.hold_for is None or now - last[0] <= self.hold_for):
            samples = list(last[1])
        return Collected(t_ms, samples=[*samples, (self._up_labels(), 0.0)], error=error, error_key=error_key)
