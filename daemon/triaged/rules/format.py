"""The Prometheus rule-file format, parsed into frozen specs with every error located.

``load_rule_file`` returns every problem at once (``file:line: message``), as promtool
does, so an SRE fixes a broken file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triaged.errors import ConfigError
from triaged.model import Severity
from triaged.promql import ExprError, parse_expr
from triaged.rules.templates import TemplateError, check_template
from triaged.yamlfile import Node, load_yaml_file, parse_duration

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


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

    @property
    def key(self) -> str:
        """Identity that survives reloads while the rule itself is unchanged."""
        return f"{self.file}:{self.group}:{self.name}:{self.expr}"

    @property
    def severity(self) -> Severity:
        return Severity.parse(self.labels.get("severity", "P3"))


@dataclass(frozen=True)
class GroupSpec:
    name: str
    file: str
    interval_s: float | None
    rules: tuple[RuleSpec, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


class RuleFileError(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def load_rule_file(path: str | Path) -> list[GroupSpec]:
    """Parse and validate one rule file. Raises :class:`RuleFileError` with all errors."""
    errors: list[ConfigError] = []
    try:
        doc = load_yaml_file(path)
    except ConfigError as exc:
        raise RuleFileError([exc]) from exc
    file = str(path)
    if doc is None:
        return []  # an empty rule file is valid, as in Prometheus
    if not isinstance(doc, Node) or "groups" not in doc:
        raise RuleFileError([ConfigError("expected a top-level 'groups:' list", file=file, line=1)])
    groups_raw = doc["groups"]
    if not isinstance(groups_raw, list):
        raise RuleFileError([doc.error("groups", "'groups' must be a list")])
    groups: list[GroupSpec] = []
    seen: set[str] = set()
    for raw in groups_raw:
        group = _parse_group(raw, doc, file, errors)
        if group is None:
            continue
        if group.name in seen:
            errors.append(_err(raw, "name", f"duplicate group name {group.name!r}"))
        seen.add(group.name)
        groups.append(group)
    if errors:
        raise RuleFileError(errors)
    return groups


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
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append(raw.error("name" if "name" in raw else None, "group needs a 'name'"))
        name = "?"
    interval: float | None = None
    if "interval" in raw:
        interval = _duration(raw, "interval", errors)
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list):
        errors.append(raw.error("rules" if "rules" in raw else None, f"group {name!r} needs a 'rules' list"))
        return None
    labels = _string_map(raw, "labels", errors) if "labels" in raw else {}
    rules: list[RuleSpec] = []
    for rule_raw in rules_raw:
        rule = _parse_rule(rule_raw, raw, file, name, errors)
        if rule is not None:
            rules.append(rule)
    return GroupSpec(name=name, file=file, interval_s=interval, rules=tuple(rules), labels=labels)


def _parse_rule(
    raw: Any, group: Node, file: str, group_name: str, errors: list[ConfigError]
) -> RuleSpec | None:
    if not isinstance(raw, Node):
        errors.append(group.error("rules", "each rule must be a mapping"))
        return None
    before = len(errors)
    for key in raw:
        if key not in _RULE_KEYS:
            errors.append(raw.error(key, f"unknown rule field {key!r}"))
    kind, name = _rule_kind(raw, errors)
    expr = raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        errors.append(raw.error("expr" if "expr" in raw else None, f"rule {name!r} needs an 'expr'"))
        expr = ""
    else:
        try:
            parse_expr(expr)
        except ExprError as exc:
            errors.append(raw.error("expr", f"rule {name!r}: invalid expression: {exc}"))
    labels = _string_map(raw, "labels", errors) if "labels" in raw else {}
    annotations = _string_map(raw, "annotations", errors) if "annotations" in raw else {}
    for_s = _duration(raw, "for", errors) if "for" in raw else 0.0
    keep = _duration(raw, "keep_firing_for", errors) if "keep_firing_for" in raw else 0.0
    if kind == "record" and ({"for", "keep_firing_for", "annotations"} & raw.keys()):
        errors.append(raw.error(None, f"recording rule {name!r} cannot have for/keep_firing_for/annotations"))
    _check_labels_and_templates(raw, name, labels, annotations, errors)
    if len(errors) != before:
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
    alert, record = raw.get("alert"), raw.get("record")
    if (alert is None) == (record is None):
        errors.append(raw.error(None, "a rule needs exactly one of 'alert' or 'record'"))
        return "alert", "?"
    if alert is not None:
        if not isinstance(alert, str) or not _NAME_RE.match(alert):
            errors.append(raw.error("alert", f"invalid alert name {alert!r}"))
        return "alert", str(alert)
    if not isinstance(record, str) or not _NAME_RE.match(record):
        errors.append(raw.error("record", f"invalid metric name {record!r} for 'record'"))
    return "record", str(record)


def _check_labels_and_templates(
    raw: Node,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    errors: list[ConfigError],
) -> None:
    for key in list(labels) + list(annotations):
        if not _LABEL_RE.match(key):
            errors.append(raw.error("labels", f"rule {name!r}: invalid label/annotation name {key!r}"))
    if "severity" in labels:
        try:
            Severity.parse(labels["severity"])
        except ValueError as exc:
            errors.append(raw.error("labels", f"rule {name!r}: {exc}"))
    for section, mapping in (("labels", labels), ("annotations", annotations)):
        for key, text in mapping.items():
            try:
                check_template(text)
            except TemplateError as exc:
                errors.append(raw.error(section, f"rule {name!r}: template in {section}.{key}: {exc}"))


def _duration(raw: Node, key: str, errors: list[ConfigError]) -> float | None:
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        errors.append(raw.error(key, f"{key}: {exc}"))
        return None


def _string_map(raw: Node, key: str, errors: list[ConfigError]) -> dict[str, str]:
    value = raw[key]
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(raw.error(key, f"'{key}' must be a mapping of strings"))
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, dict | list) or v is None:
            errors.append(raw.error(key, f"{key}.{k} must be a string"))
            continue
        out[str(k)] = v if isinstance(v, str) else _scalar_text(v)
    return out


def _scalar_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
