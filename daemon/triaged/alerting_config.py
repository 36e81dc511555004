"""Config sections for the alert pipeline: ``route`` (tree), ``inhibit_rules``,
``maintenance``, ``silences``, ``repage``, ``fallback`` and ``flap``. Parsed here (and
called from :mod:`triaged.config`) so the main config module stays small. Every
error names the file, line and key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from triaged.alerts.flap import FlapPolicy
from triaged.alerts.inhibit import InhibitRule
from triaged.alerts.maintenance import CronSchedule, MaintenanceWindow, ScheduleError, zone
from triaged.alerts.route import FallbackRule, RouteNode
from triaged.alerts.silence import MatcherError, equality_matchers, parse_matchers
from triaged.confnode import Problems, duration, get_str, node_list, only_keys, str_list
from triaged.messages import Event
from triaged.model import Matcher, Severity
from triaged.yamlfile import Node

TOP_KEYS = {"route", "inhibit_rules", "maintenance", "silences", "repage", "fallback", "flap"}
DEFAULT_REPAGE = {Severity.P0: 600.0, Severity.P1: 1800.0}


@dataclass(frozen=True)
class AlertingConfig:
    route: RouteNode | None = None  # None: the flat `routes:` list is used
    inhibit_rules: tuple[InhibitRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    repage: Mapping[Severity, float] = field(default_factory=lambda: dict(DEFAULT_REPAGE))
    fallback: tuple[FallbackRule, ...] = ()
    flap: FlapPolicy = field(default_factory=FlapPolicy)
    silence_max_s: float = 7 * 86400.0
    expiring_soon_s: float = 3600.0


def parse_alerting(doc: Node, receivers: set[str], problems: Problems) -> AlertingConfig:
    """The alerting sections of ``doc``; each broken section or list item is added to
    ``problems`` and replaced by its default, so the others are still checked."""
    p = problems
    if "route" in doc and "routes" in doc:
        p.errors.append(
            doc.error("route", "use either `route:` (a routing tree) or `routes:` (a flat list), not both")
        )
    route = (
        p.attempt(lambda: _route(_node(doc, "route"), receivers, "route", p), None)
        if "route" in doc
        else None
    )
    silence_max, expiring_soon = p.attempt(lambda: _silences(doc), (7 * 86400.0, 3600.0))
    return AlertingConfig(
        route=route,
        inhibit_rules=tuple(p.each(enumerate(p.nodes(doc, "inhibit_rules")), _inhibit)),
        maintenance=tuple(p.each(p.nodes(doc, "maintenance"), _window)),
        repage=p.attempt(lambda: _repage(_node(doc, "repage")), dict(DEFAULT_REPAGE))
        if "repage" in doc
        else dict(DEFAULT_REPAGE),
        fallback=tuple(p.each(p.nodes(doc, "fallback"), lambda n: _fallback(n, receivers))),
        flap=p.attempt(lambda: _flap(_node(doc, "flap")), FlapPolicy()) if "flap" in doc else FlapPolicy(),
        silence_max_s=silence_max,
        expiring_soon_s=expiring_soon,
    )


def _silences(doc: Node) -> tuple[float, float]:
    """The limits on ad-hoc silences: the longest one, and when one is "expiring soon"."""
    if "silences" not in doc:
        return 7 * 86400.0, 3600.0
    n = _node(doc, "silences")
    only_keys(n, {"max_duration", "expiring_soon"}, "silences")
    return (
        duration(n, "max_duration", 7 * 86400.0, positive=True),
        duration(n, "expiring_soon", 3600.0),
    )


_ROUTE_KEYS = {
    "receiver",
    "matchers",
    "match",
    "severities",
    "events",
    "continue",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "routes",
}


def _route(n: Node, receivers: set[str], where: str, p: Problems) -> RouteNode:
    """One node of the routing tree; a broken child route is reported and left out."""
    only_keys(n, _ROUTE_KEYS, where)
    receiver = n.get("receiver")
    if receiver is not None and receiver not in receivers:
        raise n.error("receiver", f"route receiver {receiver!r} is not a configured notifier")
    cont = n.get("continue", False)
    if not isinstance(cont, bool):
        raise n.error("continue", "continue must be true or false")
    try:
        events = frozenset(Event(e) for e in str_list(n, "events")) or frozenset(Event)
    except ValueError as exc:
        raise n.error("events", f"{exc} (one of {', '.join(e.value for e in Event)})") from exc
    return RouteNode(
        receiver=receiver,
        matchers=_matchers(n, "matchers", "match"),
        severities=_severities(n, "severities", frozenset(Severity)),
        events=events,
        continue_=cont,
        group_wait_s=duration(n, "group_wait", None),
        group_interval_s=duration(n, "group_interval", None),
        repeat_interval_s=duration(n, "repeat_interval", None),
        routes=tuple(p.each(node_list(n, "routes"), lambda c: _route(c, receivers, f"{where}.routes", p))),
    )


def _inhibit(numbered: tuple[int, Node]) -> InhibitRule:
    index, n = numbered
    only_keys(
        n,
        {"name", "source_matchers", "source_match", "target_matchers", "target_match", "equal"},
        "inhibit rule",
    )
    source = _matchers(n, "source_matchers", "source_match")
    target = _matchers(n, "target_matchers", "target_match")
    if not source or not target:
        raise n.error(None, "an inhibit rule needs source_matchers and target_matchers")
    return InhibitRule(
        name=get_str(n, "name", f"inhibit-{index + 1}"),
        source=source,
        target=target,
        equal=tuple(str_list(n, "equal")),
    )


def _window(n: Node) -> MaintenanceWindow:
    only_keys(
        n, {"name", "schedule", "duration", "timezone", "matchers", "match", "reason"}, "maintenance window"
    )
    name = get_str(n, "name", "")
    if not name:
        raise n.error(None, "a maintenance window needs a name")
    try:
        schedule = CronSchedule.parse(get_str(n, "schedule", ""))
    except ScheduleError as exc:
        raise n.error("schedule", str(exc)) from exc
    tz = get_str(n, "timezone", "UTC")
    try:
        zone(tz)
    except ScheduleError as exc:
        raise n.error("timezone", str(exc)) from exc
    length = duration(n, "duration", None)
    if not length:
        raise n.error("duration", "a maintenance window needs a duration, e.g. 2h")
    matchers = _matchers(n, "matchers", "match")
    if not matchers:
        raise n.error(None, "a maintenance window needs matchers (what it mutes), e.g. match: {service: x}")
    return MaintenanceWindow(name, schedule, length, tz, matchers, get_str(n, "reason", ""))


def _repage(n: Node) -> dict[Severity, float]:
    out: dict[Severity, float] = {}
    for key in n:
        try:
            sev = Severity.parse(key)
        except ValueError as exc:
            raise n.error(key, str(exc)) from exc
        value = duration(n, key, 0.0)
        if value and value < 60:
            raise n.error(key, "a re-page interval under 1m would page continuously")
        if value:
            out[sev] = value
    return out


def _fallback(n: Node, receivers: set[str]) -> FallbackRule:
    only_keys(n, {"receiver", "to", "after", "severities"}, "fallback")
    primary, to = get_str(n, "receiver", ""), get_str(n, "to", "")
    for key, name in (("receiver", primary), ("to", to)):
        if name not in receivers:
            raise n.error(key, f"fallback {key} {name!r} is not a configured notifier")
    if primary == to:
        raise n.error("to", "the fallback must be a different receiver")
    return FallbackRule(
        receiver=primary,
        to=to,
        after_s=duration(n, "after", 300.0),
        severities=_severities(n, "severities", frozenset({Severity.P0, Severity.P1})),
    )


def _flap(n: Node) -> FlapPolicy:
    only_keys(n, {"window", "threshold"}, "flap")
    threshold = n.get("threshold", 4)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
        raise n.error("threshold", "flap.threshold must be an integer of at least 2")
    return FlapPolicy(window_s=duration(n, "window", 3600.0), threshold=threshold)


# -- small typed getters ---------------------------------------------------------------
def _node(doc: Node, key: str) -> Node:
    value = doc.get(key)
    if not isinstance(value, Node):
        raise doc.error(key, f"'{key}' must be a mapping")
    return value


def _severities(n: Node, key: str, default: frozenset[Severity]) -> frozenset[Severity]:
    try:
        return frozenset(Severity.parse(s) for s in str_list(n, key)) or default
    except ValueError as exc:
        raise n.error(key, str(exc)) from exc


def _matchers(n: Node, list_key: str, map_key: str) -> tuple[Matcher, ...]:
    """``matchers: ['service=~"a|b"']`` and/or ``match: {team: payments}``."""
    found: list[Matcher] = []
    try:
        found.extend(parse_matchers(str_list(n, list_key)))
    except MatcherError as exc:
        raise n.error(list_key, str(exc)) from exc
    mapping = n.get(map_key)
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise n.error(map_key, f"'{map_key}' must be a mapping of label: value")
        try:
            found.extend(equality_matchers({str(k): str(v) for k, v in mapping.items()}))
        except MatcherError as exc:
            raise n.error(map_key, str(exc)) from exc
    return tuple(found)
