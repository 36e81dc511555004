"""Loads rule files into groups, evaluates the groups that are due, survives reloads.

A reload builds a whole new set of groups first; only if every file is valid does it
replace the running set, carrying over the alert state of rules whose definition did
not change. A broken file therefore never stops alerting on the rules that worked.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from triaged.errors import ConfigError
from triaged.promql import max_range_ms, parse_expr
from triaged.rules.alerting import Alert, AlertingRule, QueryFunc
from triaged.rules.format import GroupSpec, RuleFileError, RuleSpec, load_rule_file
from triaged.rules.group import RecordFunc, RuleGroup


def expand_rule_paths(
    patterns: Sequence[str], base: Path | None = None
) -> tuple[list[Path], list[ConfigError]]:
    """Resolve globs relative to ``base``. A pattern that matches nothing is an error:
    a typo in ``rule_files`` would otherwise silently disable every rule."""
    paths: list[Path] = []
    errors: list[ConfigError] = []
    for pattern in patterns:
        full = pattern if base is None or Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            errors.append(ConfigError(f"rule_files: {pattern!r} matches no file", file=str(base or ".")))
        paths.extend(Path(m) for m in matches)
    return paths, errors


def load_groups(paths: Iterable[Path]) -> tuple[list[GroupSpec], list[ConfigError]]:
    specs: list[GroupSpec] = []
    errors: list[ConfigError] = []
    for path in paths:
        try:
            specs.extend(load_rule_file(path))
        except RuleFileError as exc:
            errors.extend(exc.errors)
    return specs, errors


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    errors: tuple[ConfigError, ...] = ()
    rules: int = 0
    kept_alerts: int = 0


class RuleManager:
    def __init__(self, default_interval_s: float, external_labels: dict[str, str] | None = None) -> None:
        self.default_interval_s = default_interval_s
        self.external_labels = external_labels or {}
        self.groups: list[RuleGroup] = []

    def load(
        self, specs: Sequence[GroupSpec], restored: Mapping[str, Iterable[Alert]] | None = None
    ) -> ReloadResult:
        """Swap in ``specs``. Alert state of unchanged rules (same key) is kept from the
        running rules, or else taken from ``restored`` (rule key → alerts, after a restart)."""
        previous = {rule.spec.key: rule for g in self.groups for rule in g.alerting_rules()}
        by_rule = restored or {}
        groups: list[RuleGroup] = []
        kept = 0
        for spec in specs:
            rules: list[AlertingRule | RuleSpec] = []
            for rule_spec in spec.rules:
                # Group labels apply to both kinds, as in Prometheus; the rule's own win.
                labelled = _with_group_labels(rule_spec, spec)
                if labelled.kind == "record":
                    rules.append(labelled)
                    continue
                rule = AlertingRule(labelled, self.external_labels)
                old = previous.get(rule.spec.key)
                if old is not None:
                    rule.restore(old.alerts.values())
                else:
                    rule.restore(by_rule.get(rule.spec.key, ()))
                kept += len(rule.alerts)
                rules.append(rule)
            groups.append(RuleGroup(spec, spec.interval_s or self.default_interval_s, rules))
        self.groups = groups
        return ReloadResult(ok=True, rules=sum(len(g.rules) for g in groups), kept_alerts=kept)

    def evaluate_due(
        self, now: float, query: QueryFunc, record: RecordFunc, *, force: bool = False
    ) -> tuple[list[Alert], bool]:
        """Evaluate groups that are due at ``now``. Returns all current alerts of every
        group and whether any group was evaluated."""
        ran = False
        alerts: list[Alert] = []
        for group in self.groups:
            if force or group.due(now):
                alerts.extend(group.eval(now, query, record, time.perf_counter))
                ran = True
            else:
                for rule in group.alerting_rules():
                    alerts.extend(rule.alerts.values())
        return alerts, ran

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for g in self.groups for r in g.alerting_rules()]

    def max_range_ms(self) -> int:
        longest = 0
        for group in self.groups:
            for rule in group.rules:
                expr = rule.spec.expr if isinstance(rule, AlertingRule) else rule.expr
                longest = max(longest, max_range_ms(parse_expr(expr)))
        return longest


def _with_group_labels(rule: RuleSpec, group: GroupSpec) -> RuleSpec:
    if not group.labels:
        return rule
    return replace(rule, labels={**group.labels, **rule.labels})
