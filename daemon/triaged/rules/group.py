"""A rule group: its rules evaluated in order at one timestamp, each with its health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triaged.model import Labels
from triaged.promql import ExprError
from triaged.rules.alerting import Alert, AlertingRule, QueryFunc, RuleEvalError
from triaged.rules.format import GroupSpec, RuleSpec

# Recording rules write their result back into the tsdb through this seam, named by
# the rule's key so that each rule's vanished series (and only its own) go stale.
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

    def due(self, now: float) -> bool:
        # A small tolerance so a tick that fires a few ms early still evaluates.
        return self.last_eval is None or now - self.last_eval >= self.interval_s - 0.05

    def eval(
        self, now: float, query: QueryFunc, record: RecordFunc, timer: Callable[[], float]
    ) -> list[Alert]:
        """Evaluate every rule. A failing rule records its error and the group goes on."""
        alerts: list[Alert] = []
        for rule in self.rules:
            health = self.health[self._key(rule)]
            started = timer()
            try:
                if isinstance(rule, AlertingRule):
                    alerts.extend(rule.eval(now, query))
                else:
                    samples = [
                        (lbl.with_(**rule.labels, __name__=rule.name), v) for lbl, v in query(rule.expr, now)
                    ]
                    record(rule.key, samples, now)
                health.health, health.last_error = "ok", ""
            except (RuleEvalError, ExprError, ValueError, ArithmeticError) as exc:
                health.health, health.last_error = "err", str(exc)
                health.eval_failures += 1
                if isinstance(rule, AlertingRule):
                    # Keep the rule's alerts as they were: a query failure is not "resolved".
                    alerts.extend(rule.alerts.values())
            health.last_eval = now
            health.last_duration_s = timer() - started
        self.last_eval = now
        return alerts

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules if isinstance(r, AlertingRule)]
