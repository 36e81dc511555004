"""triaged's own /metrics, in a private registry.

Most values already live in the daemon (rule health, alert states, dispatcher counts,
the outbox table), so a custom collector reads them at scrape time instead of
mirroring them into client-library metrics that could drift. What only the service
layer sees (reloads, heartbeats, HTTP requests, per-source poll results) is counted
in :class:`ServiceStats`, fed by the cycle hook and the service components.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from triaged import __version__
from triaged.model import Severity
from triaged.rules.alerting import AlertingRule, AlertState
from triaged.store import outbox
from triaged.store.selfstats import open_incidents_by_severity, outbox_pending_by_receiver

if TYPE_CHECKING:
    from triaged.app import CycleReport
    from triaged.runner import Runner


@dataclass
class SourceStats:
    polls: int = 0
    failures: int = 0
    last_duration_s: float = 0.0
    up: bool = False


class ServiceStats:
    """Counters only the service layer sees. Thread-safe: the cycle, the HTTP threads
    and the main thread (reload) all write here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sources: dict[str, SourceStats] = {}
        self.reloads: Counter[str] = Counter()
        self.last_reload_ok = True
        self.last_reload_at: float | None = None
        self.heartbeats: Counter[str] = Counter()
        self.http_requests: Counter[str] = Counter()

    def observe_cycle(self, report: CycleReport) -> None:
        with self._lock:
            for key in report.scraped:
                stats = self.sources.setdefault(key, SourceStats())
                stats.polls += 1
                stats.last_duration_s = report.durations.get(key, 0.0)
                stats.up = key not in report.errors
                if not stats.up:
                    stats.failures += 1

    def forget_sources(self, keys: Iterable[str]) -> None:
        """Targets a reload removed: gone from /metrics, not frozen at their last poll
        (a removed target that was down would read `triaged_target_up 0` forever)."""
        with self._lock:
            for key in keys:
                self.sources.pop(key, None)

    def reloaded(self, ok: bool, at: float) -> None:
        with self._lock:
            self.reloads["success" if ok else "failure"] += 1
            self.last_reload_ok = ok
            if ok:
                self.last_reload_at = at

    def heartbeat(self, result: str) -> None:
        with self._lock:
            self.heartbeats[result] += 1

    def http_request(self, code: int) -> None:
        with self._lock:
            self.http_requests[str(code)] += 1

    def snapshot_sources(self) -> dict[str, SourceStats]:
        with self._lock:
            return {k: SourceStats(**vars(v)) for k, v in self.sources.items()}


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


class SelfCollector(Collector):
    def __init__(self, runner: Runner, stats: ServiceStats) -> None:
        self.runner = runner
        self.stats = stats

    def describe(self) -> list[Metric]:
        # Empty on purpose: describing would make the registry collect at register time.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._sources()
        yield from self._tsdb()
        yield from self._rules()
        yield from self._incidents_and_outbox()
        yield from self._service()

    def _sources(self) -> Iterator[Metric]:
        duration = _gauge("triaged_scrape_duration_seconds", "Last poll duration per target.", ("target",))
        polls = _counter("triaged_scrapes", "Polls per target.", ("target",))
        failures = _counter("triaged_scrape_failures", "Failed polls per target.", ("target",))
        up = _gauge("triaged_target_up", "1 if the last poll of the target succeeded.", ("target",))
        for key, s in sorted(self.stats.snapshot_sources().items()):
            duration.add_metric([key], s.last_duration_s)
            polls.add_metric([key], s.polls)
            failures.add_metric([key], s.failures)
            up.add_metric([key], 1.0 if s.up else 0.0)
        yield from (duration, polls, failures, up)

    def _tsdb(self) -> Iterator[Metric]:
        # Plain reads of ints and a dict's length: safe without the cycle lock.
        st = self.runner.daemon.storage
        yield GaugeMetricFamily("triaged_tsdb_series", "Series held in memory.", value=len(st))
        limit_doc = "storage.max_series: most series held at once."
        yield GaugeMetricFamily("triaged_tsdb_series_limit", limit_doc, value=st.limits.max_series)
        for name, doc, value in (
            (
                "triaged_tsdb_series_rejected",
                "New series refused: the limit was reached.",
                st.rejected_series,
            ),
            (
                "triaged_tsdb_series_evicted",
                "Vanished series dropped early to make room under the limit.",
                st.evicted_series,
            ),
            (
                "triaged_tsdb_samples_rejected",
                "Samples refused: out of order, duplicate, or series refused.",
                st.rejected_samples,
            ),
            (
                "triaged_tsdb_samples_revised",
                "OCI datapoints that replaced a stored value (a partial minute).",
                st.revised_samples,
            ),
            (
                "triaged_tsdb_samples_inserted",
                "Late OCI datapoints inserted before a series' newest point.",
                st.inserted_samples,
            ),
            (
                "triaged_tsdb_counters_zeroed",
                "New counters given a 0 at the scrape before they appeared (new_counters_from_zero).",
                st.zeroed_series,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)

    def _rules(self) -> Iterator[Metric]:
        by = ("group", "rule")
        duration = _gauge("triaged_rule_evaluation_duration_seconds", "Last evaluation duration.", by)
        failures = _counter("triaged_rule_evaluation_failures", "Failed evaluations (reset on reload).", by)
        healthy = _gauge("triaged_rule_health", "1 if the rule's last evaluation succeeded.", by)
        alerts: Counter[str] = Counter({s.value: 0 for s in AlertState})
        for group in list(self.runner.daemon.rules.groups):
            for rule in group.rules:
                spec = rule.spec if isinstance(rule, AlertingRule) else rule
                name = spec.name
                h = group.health[spec.key]
                duration.add_metric([group.name, name], h.last_duration_s)
                failures.add_metric([group.name, name], h.eval_failures)
                healthy.add_metric([group.name, name], 0.0 if h.health == "err" else 1.0)
                if isinstance(rule, AlertingRule):
                    alerts.update(a.state.value for a in list(rule.alerts.values()))
        by_state = _gauge("triaged_alerts", "Alerts by state.", ("state",))
        for state, n in sorted(alerts.items()):
            by_state.add_metric([state], n)
        yield from (duration, failures, healthy, by_state)

    def _incidents_and_outbox(self) -> Iterator[Metric]:
        d = self.runner.daemon
        opened = _gauge("triaged_incidents_open", "Open incidents by severity.", ("severity",))
        counts = open_incidents_by_severity(d.store)
        for sev in Severity:
            opened.add_metric([sev.name], counts.get(sev.name, 0))
        yield opened
        stats = d.dispatcher.stats
        receivers = sorted(d.dispatcher.notifiers)
        pending_now = outbox_pending_by_receiver(d.store)
        sent = _counter("triaged_notifications_sent", "Notifications delivered.", ("receiver",))
        failed = _counter("triaged_notifications_failed", "Failed delivery attempts.", ("receiver",))
        dead = _counter("triaged_notifications_dead", "Notifications given up on.", ("receiver",))
        pending = _gauge("triaged_notifications_pending", "Notifications not yet delivered.", ("receiver",))
        for r in receivers:
            sent.add_metric([r], stats.sent.get(r, 0))
            failed.add_metric([r], stats.failed.get(r, 0))
            dead.add_metric([r], stats.dead.get(r, 0))
            pending.add_metric([r], pending_now.get(r, 0))
        age = _gauge("triaged_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered row.")
        age.add_metric([], outbox.oldest_pending_age(d.store, d.clock.now()))
        yield from (sent, failed, dead, pending, age)

    def _service(self) -> Iterator[Metric]:
        p = self.runner.progress
        lag = _gauge("triaged_loop_lag_seconds", "How late the last cycle started, beyond its interval.")
        lag.add_metric([], p.lag_s)
        age = _gauge("triaged_loop_last_cycle_age_seconds", "Seconds since the last completed cycle.")
        age.add_metric([], p.age())
        took = _gauge("triaged_loop_cycle_duration_seconds", "Duration of the last cycle.")
        took.add_metric([], p.last_duration_s)
        cycles = _counter("triaged_loop_cycles", "Completed cycles.")
        cycles.add_metric([], p.cycles)
        s = self.stats
        reloads = _counter("triaged_reloads", "Config and rule reloads by result.", ("result",))
        for result in ("success", "failure"):
            reloads.add_metric([result], s.reloads[result])
        last_ok = _gauge("triaged_config_last_reload_successful", "1 if the last reload succeeded.")
        last_ok.add_metric([], 1.0 if s.last_reload_ok else 0.0)
        beats = _counter("triaged_heartbeats", "Dead-man's-switch heartbeats by result.", ("result",))
        for result in ("sent", "failed", "skipped"):
            beats.add_metric([result], s.heartbeats[result])
        http = _counter("triaged_http_requests", "HTTP requests served, by status code.", ("code",))
        for code, n in sorted(s.http_requests.items()):
            http.add_metric([code], n)
        info = _gauge("triaged_build_info", "Always 1; the version is a label.", ("version",))
        info.add_metric([__version__], 1.0)
        yield from (lag, age, took, cycles, reloads, last_ok, beats, http, info)


class SelfMetrics:
    """The private registry and its text exposition."""

    def __init__(self, runner: Runner, stats: ServiceStats) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SelfCollector(runner, stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
