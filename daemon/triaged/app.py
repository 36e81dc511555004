"""Composition root: the only place that reads config and wires components together.

One scheduler job, the *cycle*, runs every tick: it polls the sources that are due,
then at once evaluates the rule groups that are due on that fresh data, syncs
incidents, and wakes the dispatch thread to send what they recorded. Rules therefore
never wait on a second, unaligned clock, a new incident's first page leaves at once,
and a receiver that hangs never holds up detection.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from triaged.alerts.route import Route, Router
from triaged.clock import Clock, SystemClock
from triaged.config import Config, NotifierConfig, ProbeConfig, TargetConfig
from triaged.errors import ConfigError
from triaged.incidents.lifecycle import Lifecycle
from triaged.incidents.muting import MutePolicy, MuteStage
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.lifecycle_config import build_lifecycle
from triaged.model import Labels
from triaged.notifiers.base import Notifier
from triaged.notifiers.log import LogNotifier
from triaged.notifiers.webhook import WebhookNotifier
from triaged.outbox.announce import Announcer
from triaged.outbox.backoff import Backoff
from triaged.outbox.dispatcher import Dispatcher
from triaged.outbox.escalation import Escalation
from triaged.outbox.fallback import Fallback
from triaged.outbox.repage import RepagePolicy, Repager, stale_repage
from triaged.polling import Polled, Poller
from triaged.promql import Engine, Scalar, Vector
from triaged.promql.values import Value
from triaged.rules.alerting import Alert
from triaged.rules.format import GroupSpec
from triaged.rules.manager import ReloadResult, RuleManager, expand_rule_paths, load_groups
from triaged.sources.base import Collected, Source
from triaged.sources.probe import Prober, ProbeTarget
from triaged.sources.scrape import Scraper, ScrapeTarget
from triaged.store import alert_state
from triaged.store import outbox as outbox_rows
from triaged.store.db import Store, open_store
from triaged.tsdb import Storage, StorageLimits

if TYPE_CHECKING:  # imported for real only when an `oci:` section exists
    from triaged.oci_wiring import OciParts

log = structlog.get_logger("triaged.app")

# Points older than the longest rule range are useless to rules but the evidence
# kept for incidents and `triaged query` wants a little more; never less than this.
MIN_RETENTION_S = 15 * 60


def load_rule_specs(cfg: Config) -> tuple[list[GroupSpec], list[ConfigError]]:
    paths, errors = expand_rule_paths(
        cfg.rule_files, cfg.base_dir, listed_in=cfg.path, line=cfg.rule_files_line
    )
    specs, more = load_groups(paths)
    return specs, errors + more


SourceEntry = TargetConfig | ProbeConfig


def source_entries(cfg: Config) -> list[SourceEntry]:
    """The config's targets and probes, in file order."""
    return [*cfg.targets, *cfg.probes]


def build_source(entry: SourceEntry) -> Source:
    """The scraper of a `targets:` entry, or the prober of a `probes:` one."""
    if isinstance(entry, TargetConfig):
        return Scraper(
            ScrapeTarget(
                job=entry.job,
                url=entry.url,
                interval=entry.interval_s,
                timeout=entry.timeout_s,
                labels=entry.labels,
                max_body_bytes=entry.max_body_bytes,
                max_samples=entry.max_samples,
                follow_redirects=entry.follow_redirects,
                new_counters_from_zero=entry.new_counters_from_zero,
            )
        )
    return Prober(
        ProbeTarget(
            job=entry.job,
            url=entry.url,
            interval=entry.interval_s,
            timeout=entry.timeout_s,
            labels=entry.labels,
            expect_status=entry.expect_status,
            follow_redirects=entry.follow_redirects,
        )
    )


def build_sources(cfg: Config) -> list[Source]:
    return [build_source(entry) for entry in source_entries(cfg)]


@dataclass(frozen=True)
class SourceChanges:
    """What a reload did to the targets and probes, by source key."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # same key, other settings (interval, labels, timeout…)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def plan_sources(
    running: Sequence[tuple[SourceEntry, Source]], wanted: Sequence[SourceEntry]
) -> tuple[list[tuple[SourceEntry, Source]], SourceChanges]:
    """The sources for ``wanted``: a running one whose entry is unchanged is kept as it
    is (its connection, parser cache and scrape schedule go on), any other is built."""
    # By kind, job and URL first (entries hold dicts, so they do not hash): a reload of
    # thousands of targets stays linear.
    spare: dict[tuple[type, str, str], list[tuple[SourceEntry, Source]]] = {}
    for pair in running:
        spare.setdefault(_bucket(pair[0]), []).append(pair)
    pairs: list[tuple[SourceEntry, Source]] = []
    for entry in wanted:
        candidates = spare.get(_bucket(entry), [])
        same = next((pair for pair in candidates if pair[0] == entry), None)
        if same is not None:
            candidates.remove(same)
            pairs.append(same)
        else:
            pairs.append((entry, build_source(entry)))
    before = {source.key for _, source in running}
    after = {source.key for _, source in pairs}
    old = {id(source) for _, source in running}
    built = [source.key for _, source in pairs if id(source) not in old]
    return pairs, SourceChanges(
        added=tuple(k for k in built if k not in before),
        removed=tuple(sorted(before - after)),
        changed=tuple(k for k in built if k in before),
    )


def _bucket(entry: SourceEntry) -> tuple[type, str, str]:
    return type(entry), entry.job, entry.url


@dataclass(frozen=True)
class Reloaded(ReloadResult):
    """A daemon reload: the rules' outcome, what changed among the sources, and the
    receivers kept only to send what was queued for them."""

    sources: SourceChanges = SourceChanges()
    retiring: tuple[str, ...] = ()


@dataclass
class AlertingParts:
    """What a reload re-configures in place: each is shared (the router by the incident
    service, the sweeps, the API and the lifecycle), so swapping their settings reaches
    every user at once, with no second copy left on the old ones."""

    router: Router
    mutes: MuteStage
    repager: Repager
    fallback: Fallback
    escalation: Escalation
    notifiers: dict[str, NotifierConfig] | None  # None: the caller chose the notifiers
    oci: OciParts | None = None


def build_notifier(
    n: NotifierConfig, cfg: Config, oci: OciParts | None = None, clock: Clock | None = None
) -> Notifier:
    if n.type == "log":
        return LogNotifier(n.name)
    if n.type == "webhook":
        limit = int(n.raw.get("max_payload_bytes", 256 * 1024))
        return WebhookNotifier(
            n.name, n.url, timeout_s=n.timeout_s, headers=n.headers, max_payload_bytes=limit
        )
    if n.type == "pagerduty":
        from triaged.notifiers.pagerduty import pagerduty_notifier

        return pagerduty_notifier(n.name, n.raw, n.timeout_s)
    if n.type == "ons":
        from triaged.oci_wiring import ons_notifier

        notifier: Notifier = ons_notifier(n, oci, cfg.path, clock=clock)
        return notifier
    raise ConfigError(f"notifier {n.name!r}: unknown type {n.type!r}", file=cfg.path)


@dataclass
class CycleReport:
    """What one cycle did; the demo and tests read it, the log summarises it."""

    at: float
    scraped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    evaluated: bool = False
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    delivered: int = 0
    durations: dict[str, float] = field(default_factory=dict)  # source key → seconds


class Daemon:
    """The running system. Constructed from ready collaborators by :func:`build`."""

    def __init__(
        self,
        *,
        cfg: Config,
        store: Store,
        storage: Storage,
        engine: Engine,
        rules: RuleManager,
        sources: list[Source],
        incidents: IncidentService,
        dispatcher: Dispatcher,
        clock: Clock,
        lifecycle: Lifecycle | None = None,
        configured: Sequence[tuple[SourceEntry, Source]] | None = None,
        alerting: AlertingParts | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.storage = storage
        self.engine = engine
        self.rules = rules
        self.sources = sources
        self.incidents = incidents
        self.dispatcher = dispatcher
        self.clock = clock
        self.lifecycle = lifecycle  # evidence, recurrence, SLIs, reminders (issue #6)
        self._down: dict[str, str] = {}
        self._rule_errors: dict[str, str] = {}  # rule key → error last logged
        self.store_problem: str | None = None  # the store's file deleted or replaced while open
        self._poller = Poller(sources)
        # The sources built from `targets:` and `probes:`, with the entry each came from:
        # a reload replaces these. None: the caller chose the sources (tests, tools).
        self._configured = list(configured) if configured is not None else None
        self.alerting = alerting  # None: routing and receivers are fixed (tests, tools)
        self._lifecycle_from = (cfg.lifecycle, cfg.evaluation_interval_s)
        self._cycle_lock = threading.Lock()
        self.last_cycle: CycleReport | None = None
        self.heartbeat: Callable[[float], str | None] | None = None
        self.on_cycle: Callable[[CycleReport], None] | None = None
        # Set by the Runner: wakes its dispatch thread, so the cycle never waits on a
        # send (a receiver that hangs would stall detection). Unset, the cycle sends
        # what it recorded itself (tests that step a FakeClock, one-shot tools).
        self.wake_dispatch: Callable[[float], None] | None = None

    # -- the cycle ---------------------------------------------------------------------
    def cycle(self, now: float) -> CycleReport:
        report = CycleReport(at=now)
        try:
            wake = self._cycle(now, report)
        finally:
            # Also when a later step failed (a full disk): its scrapes still count in
            # /metrics, so a target refusing connections shows as down there.
            self.last_cycle = report
            if self.on_cycle is not None:
                self.on_cycle(report)
        if wake is not None:
            wake(now)  # first pages go at once, off the loop
        return report

    def _cycle(self, now: float, report: CycleReport) -> Callable[[float], None] | None:
        """The cycle's steps under the cycle lock; returns the dispatch thread's wake
        (None: it dispatched inline)."""
        with self._cycle_lock:
            self._poller.poll(now, lambda polled: self._store_polled(polled, report))
            last_evals = [(group, group.last_eval) for group in self.rules.groups]
            alerts, evaluated = self.rules.evaluate_due(now, self.query, self.record)
            report.evaluated = evaluated
            try:
                if evaluated:
                    self._log_rule_health()
                    result = self.incidents.sync(alerts, now)
                    report.opened, report.resolved = result.opened + result.reopened, result.resolved
                    alert_state.save(self.store, self._alerts_by_rule())
                    if self.lifecycle is not None:  # while the tsdb still holds the evidence
                        self.lifecycle.after_sync(result.opened, result.resolved, now)
            except BaseException:
                # What they found was not recorded (a full disk, a locked store): the groups
                # are due again at the next tick, not a whole interval (maybe an hour) later.
                for group, last in last_evals:
                    group.last_eval = last
                raise
            wake = self.wake_dispatch
            if wake is None:
                report.delivered = self.dispatcher.dispatch(now)
        return wake

    def _log_rule_health(self) -> None:
        """One line when a rule starts failing (or fails another way), one when it
        works again; not one per evaluation (its failure counter is in /metrics)."""
        for group in self.rules.groups:
            for key, health in group.health.items():
                if health.health == "err" and self._rule_errors.get(key) != health.last_error:
                    log.warning("rule_failed", rule=key, group=group.name, error=health.last_error)
                    self._rule_errors[key] = health.last_error
                elif health.health == "ok" and self._rule_errors.pop(key, None) is not None:
                    log.info("rule_recovered", rule=key, group=group.name)

    def _store_polled(self, polled: Polled, report: CycleReport) -> None:
        self._store_collected(polled.source, polled.collected, report)
        report.durations[polled.source.key] = polled.took

    def _store_collected(self, source: Source, collected: Collected, report: CycleReport) -> None:
        self.storage.append_batch(
            source.key,
            collected.samples,
            collected.t_ms,
            cumulative=collected.cumulative,
            zero_at_ms=collected.zero_at_ms,
        )
        self.storage.append_timestamped(collected.timestamped, collected.t_ms, revisable=collected.revisable)
        report.scraped.append(source.key)
        if collected.error:
            report.errors[source.key] = collected.error
            failure = collected.error_key or collected.error  # stable while the failure lasts
            if self._down.get(source.key) != failure:
                log.warning("source_failed", source=source.key, error=collected.error)
            self._down[source.key] = failure
        elif self._down.pop(source.key, None) is not None:
            log.info("source_recovered", source=source.key)

    def evaluate(self, expr: str, now: float) -> Value:
        """An ad-hoc query from outside the loop (API, `triaged query --api`): it waits
        for a running cycle, because the tsdb is not safe to read while it is written."""
        with self._cycle_lock:
            return self.engine.instant(expr, int(now * 1000))

    def query(self, expr: str, now: float) -> list[tuple[Labels, float]]:
        result = self.engine.instant(expr, int(now * 1000))
        if isinstance(result, Vector):
            return [(s.labels, s.value) for s in result]
        if isinstance(result, Scalar):
            return [(Labels(), result.value)]
        raise ValueError(f"expression must return a vector or scalar, got {type(result).__name__}")

    def record(self, rule_key: str, samples: list[tuple[Labels, float]], now: float) -> None:
        """What one rule wrote (recorded series, or ALERTS): one tsdb source per rule
        key, so series that rule stopped producing, and no other rule's, go stale."""
        self.storage.append_batch(f"record/{rule_key}", samples, int(now * 1000))

    def _alerts_by_rule(self) -> list[tuple[str, list[Alert]]]:
        return [(r.spec.key, list(r.alerts.values())) for r in self.rules.alerting_rules()]

    # -- housekeeping ------------------------------------------------------------------
    def due_receivers(self, not_before: float = 0.0) -> list[str]:
        """Run the outbox sweeps at the clock's time, or at ``not_before`` (the time of
        the cycle that asked: snapped to the second, it may be a little ahead, and what
        it recorded is due then), and name the receivers with rows to send (the runner
        then gives each its own thread: :meth:`dispatch_to`)."""
        return self.dispatcher.due_receivers(max(self.clock.now(), not_before))

    def dispatch_to(self, receiver: str, not_before: float = 0.0) -> int:
        """One dispatch round for one receiver, timed as :meth:`due_receivers`."""
        return self.dispatcher.dispatch_to(receiver, max(self.clock.now(), not_before))

    def gc(self) -> None:
        # Under the cycle lock: trimming cuts values and their times in two steps, and a
        # rule evaluated in between would read values against the wrong timestamps.
        with self._cycle_lock:
            removed = self.storage.gc(int(self.clock.now() * 1000))
        if removed:
            log.info("tsdb_gc", series_removed=removed, series=len(self.storage))
        self.check_store()

    def check_store(self) -> None:
        """Notice the store's file deleted or replaced under us (a hand `rm`, a restore
        copied in while running): said once, and /healthz fails until a restart opens
        the file now at the path. Everything recorded meanwhile is lost at restart."""
        if self.store_problem is None:
            self.store_problem = self.store.replaced()
            if self.store_problem is not None:
                log.error(
                    "store_replaced",
                    path=self.store.path,
                    reason=self.store_problem,
                    action="restart triaged",
                )

    def reload(self, cfg: Config | None = None) -> Reloaded:
        """Re-read rule files and apply ``cfg``'s targets, probes, receivers, routing,
        muting and lifecycle settings, all or nothing: a broken file or a receiver that
        cannot be built keeps everything as it was. Series of removed rules and targets
        go stale at once, and the tsdb keeps enough history for the longest range of the
        new rules (a new `[1h]` must not average over minutes)."""
        cfg = cfg or self.cfg
        specs, errors = load_rule_specs(cfg)
        if errors:
            # One event for the whole failed reload; every problem is in `errors`.
            log.error("reload_failed", errors=[str(e) for e in errors], problems=len(errors))
            return Reloaded(ok=False, errors=tuple(errors))
        plan = None
        if self._configured is not None:
            plan = plan_sources(self._configured, source_entries(cfg))
        try:  # built first: a receiver that cannot be built fails the reload, changing nothing
            notifiers = self._planned_notifiers(cfg)
        except ConfigError as exc:
            log.error("reload_failed", errors=[str(exc)], problems=1)
            return Reloaded(ok=False, errors=(exc,))
        with self._cycle_lock:  # never swap rules under a running evaluation
            # After the last evaluation (cycle times are snapped and may be ahead of the
            # clock): a stale marker not newer than a rule's last sample would be refused.
            evaluated = [g.last_eval for g in self.rules.groups if g.last_eval is not None]
            stale_ms = max([int(self.clock.now() * 1000), *(int(t * 1000) + 1 for t in evaluated)])
            self.rules.default_interval_s = cfg.evaluation_interval_s  # for groups without their own
            result = self.rules.load(specs)
            for key in result.removed:
                self.storage.forget_source(f"record/{key}", stale_ms)
            changes = SourceChanges()
            if plan is not None:
                pairs, changes = plan
                self._swap_sources(pairs, changes, stale_ms)
            retiring = self._apply_alerting(cfg, notifiers)
            self._apply_lifecycle(cfg)
            needed = retention_for(cfg, self.rules)
            limits = self.storage.limits
            if limits.retention_ms is not None and needed > limits.retention_ms:
                # Only raised, as a later reload may want the points back. Points trimmed
                # already stay gone: a new rule sees its full range once that long has passed.
                self.storage.limits = StorageLimits(retention_ms=needed, max_series=limits.max_series)
                log.info("tsdb_retention_raised", from_s=limits.retention_ms / 1000, to_s=needed / 1000)
        longest_ms = self.rules.max_range_ms()
        if cfg.retention_s is not None and longest_ms > cfg.retention_s * 1000:
            # The configured retention wins, as at start-up; say what it costs.
            log.warning(
                "retention_shorter_than_rules", retention_s=cfg.retention_s, longest_range_s=longest_ms / 1000
            )
        log.info("rules_loaded", rules=result.rules, kept_alerts=result.kept_alerts)
        if changes:
            log.info(
                "sources_reloaded",
                added=list(changes.added),
                removed=list(changes.removed),
                changed=list(changes.changed),
            )
        return Reloaded(**vars(result), sources=changes, retiring=retiring)

    def _planned_notifiers(self, cfg: Config) -> dict[str, Notifier] | None:
        """The receivers of ``cfg``: a running one whose settings are unchanged is kept
        (its rate-limit window and connections go on), any other is built."""
        parts = self.alerting
        if parts is None or parts.notifiers is None:
            return None
        running = self.dispatcher.notifiers
        return {
            n.name: running[n.name]
            if parts.notifiers.get(n.name) == n and n.name in running
            else build_notifier(n, cfg, parts.oci, self.clock)
            for n in cfg.notifiers
        }

    def _apply_alerting(self, cfg: Config, notifiers: dict[str, Notifier] | None) -> tuple[str, ...]:
        """Routing, muting, re-paging, the escalation policy, fallback, flap, the
        incidents' resolve hold and reopen window, and receivers from ``cfg`` (under the
        cycle lock). A receiver gone from the config keeps sending what was queued for it
        before: a reload must not drop a page. Returns those with rows still queued."""
        parts = self.alerting
        if parts is None:
            return ()
        parts.router.root = build_router(cfg).root
        parts.mutes.policy = MutePolicy(cfg.alerting.inhibit_rules, cfg.alerting.maintenance)
        parts.repager.policy = RepagePolicy(cfg.alerting.repage)
        parts.fallback.rules = list(cfg.alerting.fallback)
        parts.escalation.steps = list(cfg.alerting.escalation_policy)
        self.incidents.flap = cfg.alerting.flap
        # Not group_by: regrouping open incidents' alerts would resolve them and page
        # the same alerts again as new incidents; that waits for a restart, said so.
        self.incidents.policy = dataclasses.replace(
            self.incidents.policy,
            resolve_hold_s=cfg.incidents.resolve_hold_s,
            reopen_window_s=cfg.incidents.reopen_window_s,
        )
        if notifiers is None or parts.notifiers is None:
            return ()
        queued = outbox_rows.queued_receivers(self.store)
        # Removed by this reload: kept whatever the queue says now, as a sweep on the
        # dispatch thread may still be queueing for it under the routes just replaced.
        # Removed by an earlier one: kept while it has rows left to send.
        kept = {
            name: notifier
            for name, notifier in self.dispatcher.notifiers.items()
            if name not in notifiers and (name in parts.notifiers or name in queued)
        }
        self.dispatcher.notifiers = {**notifiers, **kept}
        parts.notifiers = {n.name: n for n in cfg.notifiers}
        retiring = sorted(name for name in kept if name in queued)
        if retiring:
            log.warning("receivers_retiring", receivers=retiring, action="sending what was queued")
        return tuple(retiring)

    def _apply_lifecycle(self, cfg: Config) -> None:
        """SLOs, postmortem and action-item policy, evidence settings (under the cycle
        lock): rebuilt only when they changed, as the SLO recorder keeps its schedule."""
        wanted = (cfg.lifecycle, cfg.evaluation_interval_s)
        if self.alerting is None or wanted == self._lifecycle_from:
            return
        self.lifecycle = build_lifecycle(cfg, self.store, self.engine, self.alerting.router)
        self._lifecycle_from = wanted

    def _swap_sources(
        self, pairs: list[tuple[SourceEntry, Source]], changes: SourceChanges, stale_ms: int
    ) -> None:
        """Put the planned sources in place of the configured ones (under the cycle
        lock). A removed target's series go stale now, as Prometheus marks them, so its
        alerts resolve instead of lingering as "no data" for five minutes."""
        old = [source for _, source in self._configured or ()]
        kept = {id(source) for _, source in pairs}
        configured = {id(source) for source in old}
        others = [s for s in self.sources if id(s) not in configured]  # OCI's, a test's
        self._configured = pairs
        self.sources = [source for _, source in pairs] + others
        self._poller.replace(self.sources)
        for source in old:
            if id(source) in kept:
                continue
            if source.key in changes.removed:
                self.storage.forget_source(source.key, stale_ms)
                self._down.pop(source.key, None)
            closer = getattr(source, "close", None)
            if callable(closer):
                closer()

    def pending_notifications(self) -> int:
        counts = outbox_rows.counts(self.store)
        return counts.get(outbox_rows.PENDING, 0) + counts.get(outbox_rows.SENDING, 0)

    def forget_unknown_sources(self, now: float) -> list[str]:
        """After series were restored at start: those of a target or rule no longer in
        the config go stale now (no scrape will ever say they vanished). Returns the
        sources forgotten."""
        known = {source.key for source in self.sources}
        known.update(f"record/{key}" for group in self.rules.groups for key in group.rule_keys())
        gone = [source for source in self.storage.reporting_sources() if source not in known]
        with self._cycle_lock:
            for source in gone:
                self.storage.forget_source(source, int(now * 1000))
        return gone

    def tick_interval(self) -> float:
        intervals = [s.interval for s in self.sources] + [g.interval_s for g in self.rules.groups]
        return max(0.05, min([1.0, *intervals]))

    def close(self) -> None:
        self._poller.close()
        for source in self.sources:
            closer = getattr(source, "close", None)
            if callable(closer):
                closer()


def retention_for(cfg: Config, rules: RuleManager) -> int:
    """The tsdb retention in ms: ``retention`` from the config if set, else the
    longest range any rule reads (query offsets included) plus 20%, at least 15 min.
    Used at build and again at each reload, which may only raise it."""
    if cfg.retention_s is not None:
        return int(cfg.retention_s * 1000)
    return max(MIN_RETENTION_S * 1000, int(rules.max_range_ms() * 1.2))


def build(
    cfg: Config,
    *,
    clock: Clock | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
    sources: list[Source] | None = None,
) -> Daemon:
    """Wire a daemon from config. Raises ConfigError if rules or notifiers are invalid."""
    specs, errors = load_rule_specs(cfg)
    if errors:
        raise errors[0]
    store = open_store(cfg.db_path)
    rules = RuleManager(cfg.evaluation_interval_s, cfg.external_labels, external_url=cfg.external_url)
    rules.load(specs, restored=alert_state.load(store))
    storage = Storage(StorageLimits(retention_ms=retention_for(cfg, rules), max_series=cfg.max_series))
    oci = _build_oci(cfg, store)
    clock = clock or SystemClock()
    configs = None
    if notifiers is None:  # ONS's per-topic window counts on the daemon's clock
        notifiers = {n.name: build_notifier(n, cfg, oci, clock) for n in cfg.notifiers}
        configs = {n.name: n for n in cfg.notifiers}
    configured = None
    if sources is None:
        configured = [(entry, build_source(entry)) for entry in source_entries(cfg)]
        sources = [source for _, source in configured] + (oci.sources if oci is not None else [])
    router = build_router(cfg)
    parts = AlertingParts(
        router=router,
        mutes=MuteStage(store, MutePolicy(cfg.alerting.inhibit_rules, cfg.alerting.maintenance)),
        repager=Repager(store, router, RepagePolicy(cfg.alerting.repage)),
        fallback=Fallback(store, cfg.alerting.fallback),
        escalation=Escalation(store, router, cfg.alerting.escalation_policy),
        notifiers=configs,
        oci=oci,
    )
    policy = IncidentPolicy(
        group_by=cfg.incidents.group_by,
        resolve_hold_s=cfg.incidents.resolve_hold_s,
        reopen_window_s=cfg.incidents.reopen_window_s,
    )
    backoff = Backoff(
        base_s=cfg.outbox.base_backoff_s,
        cap_s=cfg.outbox.max_backoff_s,
        max_attempts=cfg.outbox.max_attempts,
        max_retry_after_s=cfg.outbox.max_retry_after_s,
    )
    engine = Engine(storage)
    daemon = Daemon(
        cfg=cfg,
        store=store,
        storage=storage,
        engine=engine,
        rules=rules,
        sources=sources,
        incidents=IncidentService(
            store,
            router,
            policy,
            mutes=parts.mutes,
            flap=cfg.alerting.flap,
        ),
        dispatcher=Dispatcher(
            store,
            notifiers,
            backoff,
            lease_s=cfg.outbox.lease_s,
            sweeps=[
                # First: changes made from the CLI reach the outbox before the re-page
                # sweep looks for incidents nobody has acknowledged.
                Announcer(store, router).sweep,
                parts.repager.sweep,
                parts.escalation.sweep,
                parts.fallback.sweep,
            ],
            veto=lambda row: stale_repage(store, row),
            clock=clock.now,
        ),
        clock=clock,
        lifecycle=build_lifecycle(cfg, store, engine, router),
        configured=configured,
        alerting=parts,
    )
    daemon.heartbeat = oci.heartbeat if oci is not None else None
    daemon.dispatcher.release_orphans()  # a predecessor killed mid-send: resend now, not in a lease
    return daemon


def build_router(cfg: Config) -> Router:
    """The routing tree (`route:`), or the flat `routes:` list as a tree."""
    if cfg.alerting.route is not None:
        return Router(cfg.alerting.route)
    return Router([Route(r.receiver, r.severities, r.events, r.match) for r in cfg.routes])


def _build_oci(cfg: Config, store: Store) -> OciParts | None:
    if cfg.oci is None:
        return None
    from triaged.oci_wiring import build_oci
    from triaged.store.incidents import open_incidents

    return build_oci(cfg, open_incidents=lambda: len(open_incidents(store)))
