"""A rule group: its rules evaluated in order at one timestamp, each with its health.

As in Prometheus, the group's ``query_offset`` shifts every query (and the samples the
rules write) into the past, and its ``limit`` caps the alerts or series of each rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triaged.errors import describe
from triaged.model import Labels
from triaged.promql import ExprError
from triaged.rules.alerting import Alert, AlertingRule, QueryFunc, QueryResult, RuleEvalError
from triaged.rules.format import GroupSpec, RuleSpec

# Rules write into the tsdb through this seam (recording rules their result, alerting
# rules ALERTS and ALERTS_FOR_STATE), named by the rule's key so that each rule's
# vanished series, and only its own, go stale. Arguments: key, samples, timestamp.
RecordFunc = Callable[[str, list[tuple[Labels, float]], float], None]


@dataclass
class RuleHealth:
    health: str = "unknown"  # "ok", "err" or "unknown" (not evaluated yet)
    last_error: str = ""
    last_eval: float | None = None
    last_duration_s: float = 0.0
    eval_failures: int = 0


class RuleGroup:
    def __init__(self, spec: GroupSpec, interval_s: float, rules: list[AlertingRule | RuleSpec]) -> None:
        self.spec = spec
        self.interval_s = interval_s
        self.rules = rules
        self.health: dict[str, RuleHealth] = {self._key(r): RuleHealth() for r in rules}
        self.last_eval: float | None = None

    @staticmethod
    def _key(rule: AlertingRule | RuleSpec) -> str:
        return rule.spec.key if isinstance(rule, AlertingRule) else rule.key

    @property
    def name(self) -> str:
        return self.spec.name

    def rule_keys(self) -> list[str]:
        """Each rule's key: what it writes to the tsdb is the source ``record/<key>``."""
        return [self._key(rule) for rule in self.rules]

    def due(self, now: float) -> bool:
        # A small tolerance so a tick that fires a few ms early still evaluates.
        return self.last_eval is None or now - self.last_eval >= self.interval_s - 0.05

    def eval(
        self, now: float, query: QueryFunc, record: RecordFunc, timer: Callable[[], float]
    ) -> list[Alert]:
        """Evaluate every rule. A failing rule records its error and the group goes on."""
        alerts: list[Alert] = []
        offset, limit = self.spec.query_offset_s, self.spec.limit
        at = now - offset  # the time the rules query, and the samples they write carry
        for rule in self.rules:
            key = self._key(rule)
            health = self.health[key]
            started = timer()
            try:
                if isinstance(rule, AlertingRule):
                    alerts.extend(rule.eval(now, query, query_offset_s=offset, limit=limit))
                    record(key, rule.series(), at)
                else:
                    record(key, recorded(rule, query(rule.expr, at), limit), at)
                health.health, health.last_error = "ok", ""
            except (RuleEvalError, ExprError, ValueError, ArithmeticError) as exc:
                self._failed(rule, health, str(exc), alerts)
            # A bug in one rule's evaluation must not stop the others (nor the cycle).
            except Exception as exc:
                self._failed(rule, health, f"internal error: {describe(exc)}", alerts)
            health.last_eval = now
            health.last_duration_s = timer() - started
        self.last_eval = now
        return alerts

    @staticmethod
    def _failed(rule: AlertingRule | RuleSpec, health: RuleHealth, error: str, alerts: list[Alert]) -> None:
        health.health, health.last_error = "err", error
        health.eval_failures += 1
        if isinstance(rule, AlertingRule):
            # Keep the rule's alerts as they were: a query failure is not "resolved".
            alerts.extend(rule.alerts.values())

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules if isinstance(r, AlertingRule)]


def recorded(rule: RuleSpec, result: QueryResult, limit: int) -> list[tuple[Labels, float]]:
    """A recording rule's output: renamed, its labels applied, checked as Prometheus
    checks it (one sample per label set, at most ``limit`` series when > 0)."""
    named = {**rule.labels, "__name__": rule.name}
    samples = [(lbl.with_(**named), v) for lbl, v in result]
    if len({lbl for lbl, _ in samples}) != len(samples):
        raise RuleEvalError("vector contains metrics with the same labelset after applying rule labels")
    if 0 < limit < len(samples):
        raise RuleEvalError(f"exceeded limit of {limit} with {len(samples)} series")
    return samples
