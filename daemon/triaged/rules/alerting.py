"""The alert state machine of one alerting rule, as in Prometheus.

inactive → pending (expression true) → firing (true for ``for``) → resolved (false, or
false for ``keep_firing_for``). Pure: ``eval`` takes ``now`` and a query function and
returns the alerts; nothing here reads a clock or does I/O (one warning is logged when
a templated severity renders to an unknown value).

After a restart, pending ``for`` timers resume as Prometheus's rules manager restores
them (``--rules.alert.for-outage-tolerance``, ``--rules.alert.for-grace-period``); see
:class:`RestorePolicy`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from triaged.model import Labels, Severity
from triaged.rules.format import RuleSpec, is_templated
from triaged.rules.templates import TemplateData, render

log = structlog.get_logger("triaged.rules")

# Resolved alerts are kept this long so that the pipeline and a restarted daemon still
# see the resolution; Prometheus keeps them 15 minutes for the same reason.
RESOLVED_RETENTION_S = 15 * 60

QueryResult = Iterable[tuple[Labels, float]]
QueryFunc = Callable[[str, float], QueryResult]


@dataclass(frozen=True)
class RestorePolicy:
    """How pending ``for`` timers resume after the daemon was down; Prometheus's
    defaults. Within ``outage_tolerance_s`` of the last evaluation, the downtime is
    not counted as pending time (``active_at`` moves forward by it), and an alert
    still gets at least ``for_grace_period_s`` of evaluation before it fires. After a
    longer outage, or for a rule whose ``for`` is shorter than the grace period, the
    timer starts again. Firing alerts stay firing: their incident is still open, and
    making them pending again would resolve it and page a second time."""

    outage_tolerance_s: float = 3600.0  # --rules.alert.for-outage-tolerance=1h
    for_grace_period_s: float = 600.0  # --rules.alert.for-grace-period=10m


class AlertState(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class RuleEvalError(Exception):
    pass


@dataclass
class Alert:
    rule: str
    labels: Labels
    annotations: Mapping[str, str]
    state: AlertState
    active_at: float
    value: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    expr: str = field(default="", compare=False)
    # When the rule last evaluated this alert; after a restart, the start of the outage.
    last_eval: float | None = field(default=None, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def is_resolved(self) -> bool:
        return self.state is AlertState.INACTIVE and self.resolved_at is not None


def fingerprint(labels: Labels) -> str:
    text = "\xff".join(f"{k}\xfe{v}" for k, v in labels)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class AlertingRule:
    def __init__(
        self, spec: RuleSpec, external_labels: Mapping[str, str] | None = None, external_url: str = ""
    ) -> None:
        self.spec = spec
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url  # templates' $externalURL
        self.alerts: dict[Labels, Alert] = {}
        self._resume: RestorePolicy | None = None  # set by restore() after a restart

    @property
    def name(self) -> str:
        return self.spec.name

    def eval(
        self, now: float, query: QueryFunc, *, query_offset_s: float = 0.0, limit: int = 0
    ) -> list[Alert]:
        """Run the expression at ``now - query_offset_s`` and advance every alert of
        this rule. Returns the alerts that are pending, firing or recently resolved.

        More than ``limit`` (> 0) pending or firing alerts fail the rule and drop all
        its alerts, as Prometheus does: a rule that suddenly matches everything must
        not open hundreds of incidents."""
        if self._resume is not None:
            self._resume_after_outage(now, self._resume)
            self._resume = None
        found = self._instances(now - query_offset_s, query)
        for labels, (value, notes) in found.items():
            alert = self.alerts.get(labels)
            if alert is not None and alert.state is not AlertState.INACTIVE:
                alert.value = value
                alert.annotations = notes
                alert.keep_firing_since = None
                continue
            self._check_severity(labels)
            self.alerts[labels] = Alert(
                rule=self.name,
                labels=labels,
                annotations=notes,
                state=AlertState.PENDING,
                active_at=now,
                value=value,
                expr=self.spec.expr,
            )
        for labels, alert in list(self.alerts.items()):
            alert.last_eval = now
            if labels not in found:
                self._absent(labels, alert, now)
            elif alert.state is AlertState.PENDING and now - alert.active_at >= self.spec.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = now
        active = sum(1 for a in self.alerts.values() if a.state is not AlertState.INACTIVE)
        if 0 < limit < active:
            self.alerts = {}
            raise RuleEvalError(f"exceeded limit of {limit} with {active} alerts")
        return list(self.alerts.values())

    def series(self) -> list[tuple[Labels, float]]:
        """The ``ALERTS`` and ``ALERTS_FOR_STATE`` samples of this rule's pending and
        firing alerts, as Prometheus writes them after each evaluation so that rules,
        queries and rule tests can see alert state (``count(ALERTS{alertstate="firing"})``)."""
        out: list[tuple[Labels, float]] = []
        for alert in self.alerts.values():
            if alert.state is AlertState.INACTIVE:
                continue
            out.append((alert.labels.with_(__name__="ALERTS", alertstate=alert.state.value), 1.0))
            # Whole seconds, as Prometheus stores ActiveAt in this series.
            out.append((alert.labels.with_(__name__="ALERTS_FOR_STATE"), float(int(alert.active_at))))
        return out

    def _check_severity(self, labels: Labels) -> None:
        """A templated severity is only known per alert: an unknown value still opens
        an incident, as P3, and says so once, when the alert starts."""
        if not is_templated(self.spec.labels.get("severity", "")):
            return
        text = labels.get("severity")
        try:
            Severity.parse(text)
        except ValueError:
            log.warning(
                "alert_severity_unknown", rule=self.name, severity=text, labels=str(labels), using="P3"
            )

    def _absent(self, labels: Labels, alert: Alert, now: float) -> None:
        if alert.state is AlertState.PENDING:
            del self.alerts[labels]
            return
        if alert.state is AlertState.INACTIVE:
            if alert.resolved_at is not None and now - alert.resolved_at > RESOLVED_RETENTION_S:
                del self.alerts[labels]
            return
        keep = self.spec.keep_firing_for_s
        if keep > 0:
            if alert.keep_firing_since is None:
                alert.keep_firing_since = now
            if now - alert.keep_firing_since < keep:
                return
        alert.state = AlertState.INACTIVE
        alert.resolved_at = now

    def _instances(self, now: float, query: QueryFunc) -> dict[Labels, tuple[float, dict[str, str]]]:
        found: dict[Labels, tuple[float, dict[str, str]]] = {}

        def at_eval_time(expr: str) -> QueryResult:  # the templates' `query` function
            return query(expr, now)

        for sample_labels, value in query(self.spec.expr, now):
            # As in Prometheus: `$labels` are the sample's own, metric name included; the
            # alert's labels drop it. A template that fails renders its error as text.
            data = TemplateData(
                labels=sample_labels.as_dict(),
                value=value,
                external_labels=self.external_labels,
                external_url=self.external_url,
                query=at_eval_time,
            )
            extra = {k: render(v, data) for k, v in self.spec.labels.items()}
            annotations = {k: render(v, data) for k, v in self.spec.annotations.items()}
            # The rule's name wins over an `alertname` in its labels, as in Prometheus.
            labels = sample_labels.without_name().with_(**{**extra, "alertname": self.name})
            if labels in found:
                raise RuleEvalError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            found[labels] = (value, annotations)
        return found

    def restore(self, alerts: Iterable[Alert], *, after_outage: RestorePolicy | None = None) -> None:
        """Take back the alerts of this rule from before a reload (the running rule's,
        as they are) or a restart (``after_outage``: pending timers are adjusted for the
        downtime at the next evaluation, when ``now`` is known)."""
        for alert in alerts:
            alert.rule, alert.expr = self.name, self.spec.expr  # the expr may have been edited
            self.alerts[alert.labels] = alert
        if after_outage is not None:
            self._resume = after_outage

    def owns(self, labels: Labels) -> bool:
        """Could this rule have produced an alert with ``labels``? Its name and every
        literal (untemplated) label must match; used to check persisted state, as
        Prometheus selects ``ALERTS_FOR_STATE`` by alertname and the rule's labels."""
        if labels.get("alertname") != self.name:
            return False
        return all(labels.get(k) == v for k, v in self.spec.labels.items() if v != "" and not is_templated(v))

    def _resume_after_outage(self, now: float, policy: RestorePolicy) -> None:
        hold = self.spec.for_s
        grace = policy.for_grace_period_s
        for labels, alert in list(self.alerts.items()):
            down_at = alert.last_eval
            if alert.state is not AlertState.PENDING or down_at is None:
                continue  # firing or resolved alerts are kept; rows from before last_eval too
            if now - down_at > policy.outage_tolerance_s or hold < grace:
                # Nothing Prometheus would restore: the timer starts again now (if the
                # condition still holds, this evaluation makes the alert anew).
                del self.alerts[labels]
                continue
            remaining = hold - (down_at - alert.active_at)
            if remaining <= 0:
                continue  # it was due to fire: it fires on this evaluation
            if remaining < grace:
                alert.active_at = now + grace - hold  # fires one grace period from now
            else:
                alert.active_at += now - down_at  # the downtime does not count as pending
