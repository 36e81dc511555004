"""Loads rule files into groups, evaluates the groups that are due, survives reloads.

A reload builds a whole new set of groups first; only if every file is valid does it
replace the running set. A broken file therefore never stops alerting on the rules that
worked. Alert state is carried over by rule identity (file, group, name and labels,
duplicates in order: :attr:`RuleSpec.key`), as Prometheus's ``CopyState`` does, so an
edited expression keeps its pending and firing alerts.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from triaged.errors import ConfigError
from triaged.promql import max_range_ms, parse_expr
from triaged.rules.alerting import Alert, AlertingRule, QueryFunc, RestorePolicy
from triaged.rules.format import GroupSpec, RuleFileError, RuleSpec, load_rule_file
from triaged.rules.group import RecordFunc, RuleGroup


def expand_rule_paths(
    patterns: Sequence[str],
    base: Path | None = None,
    *,
    listed_in: str | None = None,
    line: int | None = None,
) -> tuple[list[Path], list[ConfigError]]:
    """Resolve globs relative to ``base``. A pattern that matches nothing is an error:
    a typo in ``rule_files`` would otherwise silently disable every rule. The error
    points at ``listed_in``:``line``, the file that lists the patterns.

    A file matched by several patterns (``rules/*.yml`` beside ``rules/api.yml``) is
    loaded once, under the name it was first matched by, as Prometheus loads it once:
    loaded twice, each of its alerts would be one rule instance held by two rules."""
    paths: dict[Path, Path] = {}  # the file itself → the name it is loaded under
    errors: list[ConfigError] = []
    for pattern in patterns:
        full = pattern if base is None or Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            where = listed_in or str(base or ".")
            message = f"rule_files: {pattern!r} matches no file{_why_nothing_matched(full)}"
            errors.append(ConfigError(message, file=where, line=line))
        for match in matches:
            paths.setdefault(Path(match).resolve(), Path(match))
    return list(paths.values()), errors


def _why_nothing_matched(pattern: str) -> str:
    """Why a glob may match nothing although its files are there: its directory is not
    where the pattern leads (``../rules`` from /etc/triaged is /etc/rules), or this
    user may not list it (rules/ left root-only), which glob skips without a word."""
    directory = Path(os.path.normpath(pattern)).parent
    while glob.has_magic(str(directory)) and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        return f": directory {directory} does not exist"
    if not os.access(directory, os.R_OK | os.X_OK):
        return f": directory {directory} is not readable by this user"
    return ""


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
    # Keys of rules that are gone: what they wrote to the tsdb should go stale.
    removed: tuple[str, ...] = ()


class RuleManager:
    def __init__(
        self,
        default_interval_s: float,
        external_labels: dict[str, str] | None = None,
        restore_policy: RestorePolicy | None = None,
        external_url: str = "",
    ) -> None:
        self.default_interval_s = default_interval_s
        self.external_labels = external_labels or {}
        self.external_url = external_url
        self.restore_policy = restore_policy or RestorePolicy()
        self.groups: list[RuleGroup] = []

    def load(
        self, specs: Sequence[GroupSpec], restored: Mapping[str, Iterable[Alert]] | None = None
    ) -> ReloadResult:
        """Swap in ``specs``. A rule with the same key as a running one takes over its
        alerts as they are (a reload); otherwise it takes its alerts from ``restored``
        (rule key → alerts saved before a restart), whose pending timers then resume
        under :attr:`restore_policy` at the first evaluation."""
        running = [rule for g in self.groups for rule in g.rules]
        previous = {r.spec.key: r for r in running if isinstance(r, AlertingRule)}
        by_rule = restored or {}
        groups: list[RuleGroup] = []
        kept = 0
        for spec in specs:
            rules: list[AlertingRule | RuleSpec] = []
            for rule_spec in spec.rules:
                if rule_spec.kind == "record":
                    rules.append(rule_spec)
                    continue
                rule = AlertingRule(rule_spec, self.external_labels, self.external_url)
                old = previous.get(rule_spec.key)
                if old is not None:
                    rule.restore(old.alerts.values())
                else:
                    saved = by_rule.get(rule_spec.key) or by_rule.get(_legacy_key(rule_spec), ())
                    # Only alerts this rule could have made: rows saved under an older,
                    # shared key may belong to a sibling rule with other labels.
                    mine = [a for a in saved if rule.owns(a.labels)]
                    rule.restore(mine, after_outage=self.restore_policy)
                kept += len(rule.alerts)
                rules.append(rule)
            groups.append(RuleGroup(spec, spec.interval_s or self.default_interval_s, rules))
        self.groups = groups
        now_keys = {_key(r) for g in groups for r in g.rules}
        removed = tuple(k for k in dict.fromkeys(_key(r) for r in running) if k not in now_keys)
        return ReloadResult(
            ok=True, rules=sum(len(g.rules) for g in groups), kept_alerts=kept, removed=removed
        )

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
        """How far back any rule reads: its longest range plus its group's query
        offset, since the whole window moves back with the offset."""
        longest = 0
        for group in self.groups:
            offset_ms = round(group.spec.query_offset_s * 1000)
            for rule in group.rules:
                expr = rule.spec.expr if isinstance(rule, AlertingRule) else rule.expr
                longest = max(longest, max_range_ms(parse_expr(expr)) + offset_ms)
        return longest


def _key(rule: AlertingRule | RuleSpec) -> str:
    return rule.spec.key if isinstance(rule, AlertingRule) else rule.key


def _legacy_key(rule: RuleSpec) -> str:
    """The key state was saved under before rules were identified by their labels
    (file, group, name, expr); read once after an upgrade, never written."""
    return f"{rule.file}:{rule.group}:{rule.name}:{rule.expr}"
