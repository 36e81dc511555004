"""The alert state machine of one alerting rule, as in Prometheus.

inactive → pending (expression true) → firing (true for ``for``) → resolved (false, or
false for ``keep_firing_for``). Pure: ``eval`` takes ``now`` and a query function and
returns the alerts; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from triaged.model import Labels
from triaged.rules.format import RuleSpec
from triaged.rules.templates import TemplateData, TemplateError, render

# Resolved alerts are kept this long so that the pipeline and a restarted daemon still
# see the resolution; Prometheus keeps them 15 minutes for the same reason.
RESOLVED_RETENTION_S = 15 * 60

QueryResult = Iterable[tuple[Labels, float]]
QueryFunc = Callable[[str, float], QueryResult]


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
    def __init__(self, spec: RuleSpec, external_labels: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.external_labels = dict(external_labels or {})
        self.alerts: dict[Labels, Alert] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def eval(self, now: float, query: QueryFunc) -> list[Alert]:
        """Run the expression at ``now`` and advance every alert of this rule.
        Returns the alerts that are pending, firing or recently resolved."""
        found = self._instances(now, query)
        for labels, (value, notes) in found.items():
            alert = self.alerts.get(labels)
            if alert is not None and alert.state is not AlertState.INACTIVE:
                alert.value = value
                alert.annotations = notes
                alert.keep_firing_since = None
                continue
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
            if labels not in found:
                self._absent(labels, alert, now)
            elif alert.state is AlertState.PENDING and now - alert.active_at >= self.spec.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = now
        return list(self.alerts.values())

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
        for sample_labels, value in query(self.spec.expr, now):
            base = sample_labels.without_name()
            data = TemplateData(labels=base.as_dict(), value=value, external_labels=self.external_labels)
            try:
                extra = {k: render(v, data) for k, v in self.spec.labels.items()}
                annotations = {k: render(v, data) for k, v in self.spec.annotations.items()}
            except TemplateError as exc:
                raise RuleEvalError(f"template: {exc}") from exc
            labels = base.with_(**extra, alertname=self.name)
            if labels in found:
                raise RuleEvalError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            found[labels] = (value, annotations)
        return found

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Take back persisted state after a restart or reload, so ``for`` timers keep
        counting from when the condition really started."""
        for alert in alerts:
            self.alerts[alert.labels] = alert
