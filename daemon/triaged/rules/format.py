"""The Prometheus rule-file format, parsed into frozen specs with every error located.

``load_rule_file`` returns every problem at once (``file:line: message``), as promtool
does, so an SRE fixes a broken file in one pass. Group labels are merged into each
rule's labels here (the rule's own win), so a spec's labels are the ones its alerts and
series carry and the ones that identify it across reloads.

String fields read a scalar's text as written (``paging: no`` is "no", ``version:
1.10`` is "1.10"), as Prometheus's Go YAML decoding does; see :meth:`Node.text`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from triaged.confnode import duration
from triaged.errors import ConfigError
from triaged.model import Severity
from triaged.promql import ExprError, parse_expr, unsupported_functions
from triaged.rules.templates import TemplateError, check_template
from triaged.yamlfile import Node, load_yaml_file

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_NO_NAME = "?"  # a rule with neither or both of alert/record


@dataclass(frozen=True)
class RuleSpec:
    name: str  # alert name, or recorded metric name
    expr: str
    kind: str  # "alert" or "record"
    file: str
    line: int | None
    group: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    # Among the group's rules with this same name and labels: 0 for the first in the
    # file, 1 for the next, … (Prometheus matches such duplicates in order).
    occurrence: int = 0

    @property
    def key(self) -> str:
        """Identity across reloads and restarts, matched as Prometheus's CopyState
        matches rules: file, group, name and labels, and for exact duplicates their
        order. Not the expression: editing it keeps the rule's alerts, and a
        ``warning``/``critical`` pair with one name and expr stays two rules."""
        labels = json.dumps(dict(sorted(self.labels.items())), ensure_ascii=False, separators=(",", ":"))
        return f"{self.file}:{self.group}:{self.name}{labels}#{self.occurrence}"

    @property
    def severity(self) -> Severity:
        """The severity its alerts open incidents with: P3 when the label is absent,
        and also when it is templated (then each alert's rendered value decides)."""
        text = self.labels.get("severity", "P3")
        return Severity.P3 if is_templated(text) else Severity.parse(text)


@dataclass(frozen=True)
class GroupSpec:
    name: str
    file: str
    interval_s: float | None
    rules: tuple[RuleSpec, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    # More active alerts (or recorded series) than this fails the rule; 0 is no limit.
    limit: int = 0
    # Queries run this much in the past, for data that arrives late (remote write).
    query_offset_s: float = 0.0


class RuleFileError(Exception):
    """Every problem of a rule file. ``groups`` holds what did parse, broken rules
    included when their name is known: enough for warnings, never for evaluation."""

    def __init__(self, errors: list[ConfigError], groups: list[GroupSpec] | None = None) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
        self.groups = groups or []


# The top-level keys of a promtool test file: one given as a rule file gets a pointer
# to `triaged rules test` instead of "expected a top-level 'groups:' list".
TEST_FILE_KEYS = frozenset({"rule_files", "tests"})


def load_rule_file(path: str | Path) -> list[GroupSpec]:
    """Parse and validate one rule file. Raises :class:`RuleFileError` with all errors."""
    groups, errors = check_rule_file(path)
    if errors:
        raise RuleFileError(errors, groups)
    return groups


def check_rule_file(path: str | Path) -> tuple[list[GroupSpec], list[ConfigError]]:
    """Every problem of one rule file, and its groups as far as they parse. Groups of a
    file with problems may hold broken rules: use :func:`load_rule_file` to run them."""
    errors: list[ConfigError] = []
    try:
        doc = load_yaml_file(path)
    except ConfigError as exc:
        return [], [_second_document_hint(exc)]
    file = str(path)
    if doc is None:
        return [], []  # an empty rule file is valid, as in Prometheus
    if not isinstance(doc, Node) or "groups" not in doc:
        if isinstance(doc, Node) and TEST_FILE_KEYS & doc.keys():
            message = "this is a rule test file: use triaged rules test"
        else:
            message = "expected a top-level 'groups:' list"
        return [], [ConfigError(message, file=file, line=1)]
    for key in doc:
        if key != "groups":  # Prometheus refuses the file too (an anchor holder included)
            errors.append(doc.error(key, f"unknown top-level field {key!r} (a rule file has only 'groups')"))
    groups_raw = doc["groups"]
    if groups_raw is None:  # `groups:` with every group commented out: none, as in promtool
        groups_raw = []
    if not isinstance(groups_raw, list):
        return [], [doc.error("groups", "'groups' must be a list")]
    groups: list[GroupSpec] = []
    seen: set[str] = set()
    for raw in groups_raw:
        if raw is None:  # a bare `-` is no group at all to promtool; nothing to load
            continue
        group = _parse_group(raw, doc, file, errors)
        if group is None:
            continue
        if group.name in seen:
            errors.append(_err(raw, "name", f"duplicate group name {group.name!r}"))
        seen.add(group.name)
        groups.append(group)
    return groups, errors


def _second_document_hint(exc: ConfigError) -> ConfigError:
    """Prometheus reads only the first YAML document of a rule file and silently drops
    the rest (promtool 2.42 passes such a file). Refusing it is deliberate, as rules
    after a `---` would never run; the message says so instead of a parser's words."""
    if "another document" not in exc.message:
        return exc
    return ConfigError(
        "a rule file holds one YAML document: Prometheus ignores every rule after this '---' "
        "(merge the documents into one 'groups:' list)",
        file=exc.file,
        line=exc.line,
    )


def _err(node: Any, key: str | None, message: str) -> ConfigError:
    if isinstance(node, Node):
        return node.error(key, message)
    return ConfigError(message)


def _parse_group(raw: Any, parent: Node, file: str, errors: list[ConfigError]) -> GroupSpec | None:
    if not isinstance(raw, Node):
        errors.append(parent.error("groups", "each group must be a mapping"))
        return None
    for key in raw:
        if key not in _GROUP_KEYS:
            errors.append(raw.error(key, f"unknown group field {key!r}"))
    name = raw.text("name")
    if not name:
        errors.append(raw.error("name" if "name" in raw else None, "group needs a 'name'"))
        name = "?"
    interval: float | None = None
    if "interval" in raw:
        interval = _duration(raw, "interval", errors)
    offset = _duration(raw, "query_offset", errors) if "query_offset" in raw else 0.0
    limit = _limit(raw, errors)
    labels = string_map(raw, "labels", errors) if "labels" in raw else {}
    _check_severity(raw, f"group {name!r}", labels, errors)
    rules_raw = raw.get("rules")
    if rules_raw is None:  # absent, or every rule commented out: an empty group, as in Prometheus
        rules_raw = []
    elif not isinstance(rules_raw, list):
        errors.append(raw.error("rules", f"group {name!r}: 'rules' must be a list"))
        rules_raw = []
    rules: list[RuleSpec] = []
    for rule_raw in rules_raw:
        if rule_raw is None:  # a bare `-`: promtool counts no rule there, nor do we
            continue
        rule = _parse_rule(rule_raw, raw, file, name, errors)
        if rule is not None:
            rules.append(rule)
    return GroupSpec(
        name=name,
        file=file,
        interval_s=interval,
        rules=_identified(rules, labels),
        labels=labels,
        limit=limit,
        query_offset_s=offset or 0.0,
    )


def _identified(rules: list[RuleSpec], group_labels: Mapping[str, str]) -> tuple[RuleSpec, ...]:
    """Merge the group's labels into each rule (the rule's own win, as in Prometheus)
    and number exact duplicates, so every rule of the group has its own key."""
    seen: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    out: list[RuleSpec] = []
    for rule in rules:
        labels = {**group_labels, **rule.labels}
        ident = (rule.name, tuple(sorted(labels.items())))
        out.append(replace(rule, labels=labels, occurrence=seen[ident]))
        seen[ident] += 1
    return tuple(out)


def _limit(raw: Node, errors: list[ConfigError]) -> int:
    value = raw.get("limit")
    if value is None:
        return 0  # absent or null: no limit, as Go's zero value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # `limit: 1000.0`, which Go's YAML decodes into an int too
    # promtool 2.42 also takes `limit: 1.5` (Go truncates it to 1); a fraction of an
    # alert is a slip, so it stays refused here, with what was written.
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(raw.error("limit", f"limit: expected an integer, got {raw.text('limit')!r}"))
        return 0
    return value  # 0 or negative means no limit, as in Prometheus


def _parse_rule(
    raw: Any, group: Node, file: str, group_name: str, errors: list[ConfigError]
) -> RuleSpec | None:
    """The rule, also when it has problems (they are in ``errors``), as long as its name
    is known; None when it is not."""
    if not isinstance(raw, Node):
        errors.append(group.error("rules", "each rule must be a mapping"))
        return None
    for key in raw:
        if key not in _RULE_KEYS:
            errors.append(raw.error(key, f"unknown rule field {key!r}"))
    kind, name = _rule_kind(raw, errors)
    expr = raw.text("expr")
    if expr is None or not expr.strip():
        errors.append(raw.error("expr" if "expr" in raw else None, f"rule {name!r} needs an 'expr'"))
        expr = ""
    else:
        try:
            parsed = parse_expr(expr)
        except ExprError as exc:
            errors.append(raw.error("expr", f"rule {name!r}: invalid expression: {exc}"))
        else:
            for fn in unsupported_functions(parsed):
                errors.append(raw.error("expr", f"rule {name!r}: function {fn!r} is not supported here"))
    labels = string_map(raw, "labels", errors) if "labels" in raw else {}
    annotations = string_map(raw, "annotations", errors) if "annotations" in raw else {}
    for_s = _duration(raw, "for", errors)
    keep = _duration(raw, "keep_firing_for", errors)
    if kind == "record":
        # As Prometheus: only a value that would do something is refused (`for: 0s`
        # and `annotations: {}` are harmless), each field named.
        given = {"for": for_s, "keep_firing_for": keep, "annotations": annotations}
        for key, value in given.items():
            if value:
                errors.append(
                    raw.error(key, f"recording rule {name!r}: invalid field {key!r} in recording rule")
                )
    _check_names(raw, name, labels, annotations, errors)
    if kind == "alert":
        # A recording rule's labels are copied as written, never expanded (neither
        # here nor in Prometheus), and its series open no incident: no template or
        # severity to check.
        _check_templates(raw, name, labels, annotations, errors)
    if name == _NO_NAME:
        return None
    return RuleSpec(
        name=name,
        expr=expr,
        kind=kind,
        file=file,
        line=raw.line,
        group=group_name,
        for_s=for_s or 0.0,
        keep_firing_for_s=keep or 0.0,
        labels=labels,
        annotations=annotations,
    )


def _rule_kind(raw: Node, errors: list[ConfigError]) -> tuple[str, str]:
    if (raw.get("alert") is None) == (raw.get("record") is None):
        # `alert: null` or `record:` left empty: promtool 2.42 takes the text "null" as
        # the name; a rule named "null" is never meant, so it is refused, and named.
        empty = [key for key in ("alert", "record") if key in raw and raw[key] is None]
        hint = (
            f" ('{empty[0]}' is empty)"
            if len(empty) == 1 and len(raw.keys() & {"alert", "record"}) == 1
            else ""
        )
        errors.append(raw.error(None, f"a rule needs exactly one of 'alert' or 'record'{hint}"))
        return "alert", _NO_NAME
    kind = "alert" if raw.get("alert") is not None else "record"
    # The text as written: `alert: Off` is the name "Off", not the boolean false.
    name = raw.text(kind)
    shown = raw[kind] if name is None else name
    if kind == "alert" and not name:  # any text, as in Prometheus: it is a label value
        errors.append(raw.error(kind, f"invalid alert name {shown!r}"))
    elif kind == "record" and (name is None or not _NAME_RE.match(name)):
        errors.append(raw.error(kind, f"invalid metric name {shown!r} for 'record'"))
    return kind, name if name is not None else str(raw[kind])


def _check_names(
    raw: Node,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    errors: list[ConfigError],
) -> None:
    for section, mapping in (("label", labels), ("annotation", annotations)):
        for key in mapping:
            if not _LABEL_RE.match(key):
                errors.append(raw.error(f"{section}s", f"rule {name!r}: invalid {section} name {key!r}"))
    if "__name__" in labels:  # as Prometheus: the rule's name or expression names the series
        errors.append(raw.error("labels", f"rule {name!r}: invalid label name '__name__'"))


def _check_templates(
    raw: Node,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    errors: list[ConfigError],
) -> None:
    _check_severity(raw, f"rule {name!r}", labels, errors)
    for section, mapping in (("labels", labels), ("annotations", annotations)):
        for key, text in mapping.items():
            try:
                check_template(text)
            except TemplateError as exc:
                errors.append(raw.error(section, f"rule {name!r}: template in {section}.{key}: {exc}"))


def is_templated(text: str) -> bool:
    """A label value with a template is only known per alert, at evaluation."""
    return "{{" in text


def _check_severity(raw: Node, what: str, labels: Mapping[str, str], errors: list[ConfigError]) -> None:
    """A literal severity must be known; a templated one (``{{ $labels.sev }}``) can
    only be resolved per alert, so it is checked at evaluation (unknown: P3 + warning)."""
    text = labels.get("severity")
    if text is None or is_templated(text):
        return
    try:
        Severity.parse(text)
    except ValueError as exc:
        errors.append(raw.error("labels", f"{what}: {exc}"))


def rule_warnings(groups: Iterable[GroupSpec]) -> list[str]:
    """What ``triaged rules check`` should point out without failing the file:
    rules valid in Prometheus that will not behave as the author may expect here."""
    out: list[str] = []
    first: dict[tuple[str, str, tuple[tuple[str, str], ...]], RuleSpec] = {}
    for group in groups:
        for rule in group.rules:
            where = f"{rule.file}:{rule.line}" if rule.line is not None else rule.file
            if rule.kind == "alert" and "severity" not in rule.labels:
                out.append(
                    f"{where}: warning: alert {rule.name!r} has no 'severity' label; "
                    "its incidents open as P3 (set severity: P0-P3 or critical/error/warning/info)"
                )
            # As promtool's lint: one name with the same labels twice in a file is most
            # likely a copy-paste slip (two alerts that can never be told apart).
            ident = (rule.file, rule.name, tuple(sorted(rule.labels.items())))
            seen = first.setdefault(ident, rule)
            if seen is not rule:
                same = f"its name and labels are those of line {seen.line}"
                out.append(f"{where}: warning: duplicate rule {rule.name!r}: {same}")
    return out


def _duration(raw: Node, key: str, errors: list[ConfigError]) -> float | None:
    """A Prometheus duration, read as Prometheus reads one: a bare number other than 0
    is refused (``for: 5`` is seconds to nobody but Python), and so are ``1.5m``,
    ``5m5m`` and ``1m1h``, which would load here and not there. Absent or null
    (``for:`` alone) is no duration, as Go's zero value."""
    if raw.get(key) is None:
        return None
    try:
        return duration(raw, key, None, strict=True)
    except ConfigError as exc:
        errors.append(exc)
        return None


def string_map(raw: Node, key: str, errors: list[ConfigError]) -> dict[str, str]:
    """``key``'s mapping with every value read as a string field (its text as written);
    problems are added to ``errors`` and an empty or partial mapping returned."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Node):
        errors.append(raw.error(key, f"'{key}' must be a mapping of strings"))
        return {}
    out: dict[str, str] = {}
    for k in value:
        text = "" if value[k] is None else value.text(k)  # `team:` alone is "", as in Go
        if text is None:
            errors.append(raw.error(key, f"{key}.{k} must be a string"))
            continue
        out[str(k)] = text
    return out
