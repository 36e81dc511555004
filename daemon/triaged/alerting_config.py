"""Config sections for the alert pipeline: ``route`` (tree), ``inhibit_rules``,
``maintenance``, ``silences``, ``repage``, ``fallback`` and ``flap``. Parsed here (and
called from :mod:`triaged.config`) so the main config module stays small. Every
error names the file, line and key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from triaged.alerts.flap import FlapPolicy
from triaged.alerts.inhibit import InhibitRule
from triaged.alerts.maintenance import CronSchedule, MaintenanceWindow, ScheduleError, zone
from triaged.alerts.route import DEFAULT_EVENTS, EscalationStep, FallbackRule, RouteNode
from triaged.alerts.silence import MatcherError, equality_matchers, parse_matchers, regex_matchers
from triaged.confnode import Problems, duration, flag, get_str, label_name_problem, str_list
from triaged.errors import ConfigError
from triaged.messages import Event
from triaged.model import Matcher, Severity
from triaged.yamlfile import Node

TOP_KEYS = {
    *("route", "inhibit_rules", "maintenance", "silences", "repage", "fallback", "flap"),
    "escalation_policy",
}
DEFAULT_REPAGE = {Severity.P0: 600.0, Severity.P1: 1800.0}


@dataclass(frozen=True)
class AlertingConfig:
    route: RouteNode | None = None  # None: the flat `routes:` list is used
    inhibit_rules: tuple[InhibitRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    repage: Mapping[Severity, float] = field(default_factory=lambda: dict(DEFAULT_REPAGE))
    fallback: tuple[FallbackRule, ...] = ()
    escalation_policy: tuple[EscalationStep, ...] = ()
    flap: FlapPolicy = field(default_factory=FlapPolicy)
    silence_max_s: float = 7 * 86400.0
    expiring_soon_s: float = 3600.0


def parse_alerting(doc: Node, receivers: set[str], problems: Problems) -> AlertingConfig:
    """The alerting sections of ``doc``; each broken section, list item or key is added
    to ``problems`` and replaced by its default, so the others are still checked."""
    p = problems
    if "route" in doc and "routes" in doc:
        p.errors.append(
            doc.error("route", "use either `route:` (a routing tree) or `routes:` (a flat list), not both")
        )
    route = p.attempt(lambda: _root(_node(doc, "route"), receivers, p), None) if "route" in doc else None
    silence_max, expiring_soon = p.attempt(lambda: _silences(doc, p), (7 * 86400.0, 3600.0))
    return AlertingConfig(
        route=route,
        inhibit_rules=tuple(p.each(enumerate(p.nodes(doc, "inhibit_rules")), lambda i: _inhibit(i, p))),
        maintenance=_windows(doc, p),
        repage=p.attempt(lambda: _repage(_node(doc, "repage"), p), dict(DEFAULT_REPAGE))
        if "repage" in doc
        else dict(DEFAULT_REPAGE),
        fallback=tuple(p.each(p.nodes(doc, "fallback"), lambda n: _fallback(n, receivers, p))),
        escalation_policy=tuple(p.each(p.nodes(doc, "escalation_policy"), lambda n: _step(n, receivers, p))),
        flap=p.attempt(lambda: _flap(_node(doc, "flap"), p), FlapPolicy()) if "flap" in doc else FlapPolicy(),
        silence_max_s=silence_max,
        expiring_soon_s=expiring_soon,
    )


def _silences(doc: Node, p: Problems) -> tuple[float, float]:
    """The limits on ad-hoc silences: the longest one, and when one is "expiring soon"."""
    if "silences" not in doc:
        return 7 * 86400.0, 3600.0
    n = _node(doc, "silences")
    p.only_keys(n, {"max_duration", "expiring_soon"}, "silences")
    return (
        p.duration(n, "max_duration", 7 * 86400.0, positive=True),
        p.duration(n, "expiring_soon", 3600.0),
    )


_ROUTE_KEYS = {
    "receiver",
    "matchers",
    "match",
    "match_re",
    "severities",
    "events",
    "continue",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "routes",
}


# Alertmanager route keys whose job is done elsewhere in triaged: an SRE pasting a
# route gets told where, not just "unknown key".
_ROUTE_ELSEWHERE = {
    "group_by": "alerts are grouped into incidents by `incidents.group_by`, one setting for every route",
    "mute_time_intervals": "mute on a schedule with `maintenance:` windows (cron schedule and matchers)",
    "active_time_intervals": "mute on a schedule with `maintenance:` windows (cron schedule and matchers)",
}

# Re-paging faster than this pages continuously (the `repage:` section has the same floor).
MIN_REPEAT_S = 60.0


def _root(n: Node, receivers: set[str], p: Problems) -> RouteNode:
    """The root route, checked as Alertmanager checks it: it takes every alert no child
    takes, so it needs a receiver and must not filter (a root that misses drops the
    page with no receiver to blame), and ``continue`` means nothing there."""
    if not n.get("receiver"):
        p.errors.append(
            n.error(None, "the root route needs a receiver: it takes every alert no child route takes")
        )
    for key in ("matchers", "match", "match_re", "severities"):
        if key in n and _root_filters(n, key):
            p.errors.append(n.error(key, f"the root route must not have {key}: it takes every alert"))
    if n.get("continue") is True:
        p.errors.append(n.error("continue", "the root route cannot have continue: there is nothing after it"))
    return _route(n, receivers, "route", p)


def _root_filters(n: Node, key: str) -> bool:
    """Whether the root's ``key`` holds anything. As in Alertmanager, ``matchers: []``,
    ``matchers: ['']`` and ``match: {}`` hold no matcher and are allowed; a broken one
    is reported by :func:`_route`."""
    if key == "severities":
        return True
    try:
        if key == "matchers":
            return bool(_matcher_list(n, key))
        return bool(_matcher_map(n, key, regex_matchers if key == "match_re" else equality_matchers))
    except ConfigError:
        return False


def _route(n: Node, receivers: set[str], where: str, p: Problems) -> RouteNode:
    """One node of the routing tree, every key checked; a broken child route is
    reported and left out."""
    for key in _ROUTE_ELSEWHERE.keys() & set(n):
        p.errors.append(n.error(key, f"{key} is not a route setting in triaged: {_ROUTE_ELSEWHERE[key]}"))
    p.only_keys(n, _ROUTE_KEYS | _ROUTE_ELSEWHERE.keys(), where)
    return RouteNode(
        receiver=p.attempt(lambda: _tree_receiver(n, receivers), None),
        matchers=p.attempt(lambda: _matchers(n, "matchers", "match", "match_re"), ()),
        severities=p.attempt(lambda: severity_set(n, "severities", frozenset(Severity)), frozenset(Severity)),
        events=p.attempt(lambda: _tree_events(n), None),
        continue_=p.attempt(lambda: flag(n, "continue", False), False),
        group_wait_s=p.duration(n, "group_wait", None),
        group_interval_s=p.duration(n, "group_interval", None),
        repeat_interval_s=p.attempt(lambda: _repeat_interval(n), None),
        routes=tuple(p.each(p.nodes(n, "routes"), lambda c: _route(c, receivers, f"{where}.routes", p))),
    )


def _repeat_interval(n: Node) -> float | None:
    """``repeat_interval``: 0 turns re-paging off for this route (as 0 does in
    ``repage:``); under a minute is refused, it would page continuously."""
    value = duration(n, "repeat_interval", None)
    if value and value < MIN_REPEAT_S:
        raise n.error(
            "repeat_interval", "a repeat_interval under 1m would page continuously (0 turns it off)"
        )
    return value


def _tree_events(n: Node) -> frozenset[Event] | None:
    """A tree node's own ``events:``; None when absent, so it inherits its parent's."""
    return event_set(n, "events") if str_list(n, "events") else None


def _tree_receiver(n: Node, receivers: set[str]) -> str | None:
    receiver = n.get("receiver")
    if receiver is not None and receiver not in receivers:
        raise n.error("receiver", f"route receiver {receiver!r} is not a configured notifier")
    return None if receiver is None else str(receiver)


def _inhibit(numbered: tuple[int, Node], p: Problems) -> InhibitRule | None:
    index, n = numbered
    p.only_keys(
        n,
        {"name", "equal"} | {f"{side}_{key}" for side in ("source", "target") for key in _MATCH_KEYS},
        "inhibit rule",
    )
    source = p.attempt(lambda: _matchers(n, "source_matchers", "source_match", "source_match_re"), None)
    target = p.attempt(lambda: _matchers(n, "target_matchers", "target_match", "target_match_re"), None)
    if () in (source, target):  # one given and valid, the other absent
        p.errors.append(n.error(None, "an inhibit rule needs source_matchers and target_matchers"))
    name = p.attempt(lambda: get_str(n, "name", f"inhibit-{index + 1}"), "")
    no_labels: tuple[str, ...] = ()
    equal = p.attempt(lambda: _equal(n), no_labels)
    if not source or not target:
        return None
    return InhibitRule(name=name, source=source, target=target, equal=equal)


def _equal(n: Node) -> tuple[str, ...]:
    """``equal: [service]``: label names; one no alert can carry (``service-name``) is
    refused, as Alertmanager refuses it, since it would be "missing from both", i.e.
    always equal, and the rule would mute across services."""
    names = tuple(str_list(n, "equal"))
    for name in names:
        problem = label_name_problem(name)
        if problem is not None:
            raise n.error("equal", f"equal: {problem}")
    return names


def _windows(doc: Node, p: Problems) -> tuple[MaintenanceWindow, ...]:
    """Every window; a name given twice is refused (muted alerts and the timeline name
    the window, so two of one name could not be told apart)."""
    pairs = p.each(p.nodes(doc, "maintenance"), lambda n: (n, _window(n, p)))
    first: dict[str, Node] = {}
    for n, window in pairs:
        if window is None:
            continue
        seen = first.setdefault(window.name, n)
        if seen is not n:
            p.errors.append(
                n.error("name", f"maintenance window {window.name!r} is already defined at line {seen.line}")
            )
    return tuple(window for _, window in pairs if window is not None)


def _window(n: Node, p: Problems) -> MaintenanceWindow | None:
    only = {"name", "schedule", "duration", "timezone", "matchers", "match", "reason"}
    p.only_keys(n, only, "maintenance window")
    name = p.attempt(lambda: _window_name(n), "")
    schedule = p.attempt(lambda: _schedule(n), None)
    tz = p.attempt(lambda: _timezone(n), "UTC")
    length = p.attempt(lambda: _window_length(n), 0.0)
    none: tuple[Matcher, ...] = ()
    matchers = p.attempt(lambda: _window_matchers(n), none)
    reason = p.attempt(lambda: get_str(n, "reason", ""), "")
    if schedule is None:
        return None
    return MaintenanceWindow(name, schedule, length, tz, matchers, reason)


def _window_name(n: Node) -> str:
    name = get_str(n, "name", "")
    if not name:
        raise n.error(None, "a maintenance window needs a name")
    return name


def _schedule(n: Node) -> CronSchedule:
    try:
        return CronSchedule.parse(get_str(n, "schedule", ""))
    except ScheduleError as exc:
        raise n.error("schedule", str(exc)) from exc


def _timezone(n: Node) -> str:
    tz = get_str(n, "timezone", "UTC")
    try:
        zone(tz)
    except ScheduleError as exc:
        raise n.error("timezone", str(exc)) from exc
    return tz


def _window_length(n: Node) -> float:
    length = duration(n, "duration", None)
    if not length:
        raise n.error("duration", "a maintenance window needs a duration, e.g. 2h")
    return length


def _window_matchers(n: Node) -> tuple[Matcher, ...]:
    matchers = _matchers(n, "matchers", "match")
    if not matchers:
        raise n.error(None, "a maintenance window needs matchers (what it mutes), e.g. match: {service: x}")
    return matchers


def _repage(n: Node, p: Problems) -> dict[Severity, float]:
    """Each severity given replaces its default; the others keep theirs, so
    ``repage: {P1: 15m}`` does not quietly stop re-paging P0s (``P0: 0`` does)."""
    out = dict(DEFAULT_REPAGE)
    for key in n:
        try:
            sev = Severity.parse(key)
        except ValueError as exc:
            p.errors.append(n.error(key, str(exc)))
            continue
        try:
            value = duration(n, key, 0.0)
        except ConfigError as exc:
            p.errors.append(exc)
            continue
        if value and value < 60:
            p.errors.append(n.error(key, "a re-page interval under 1m would page continuously"))
        elif value:
            out[sev] = value
        else:
            out.pop(sev, None)
    return out


def _fallback(n: Node, receivers: set[str], p: Problems) -> FallbackRule | None:
    p.only_keys(n, {"receiver", "to", "after", "severities"}, "fallback")
    primary = p.attempt(lambda: _fallback_receiver(n, "receiver", receivers), None)
    to = p.attempt(lambda: _fallback_receiver(n, "to", receivers), None)
    if primary is not None and primary == to:
        p.errors.append(n.error("to", "the fallback must be a different receiver"))
    pages = frozenset({Severity.P0, Severity.P1})
    after = p.duration(n, "after", 300.0)
    severities = p.attempt(lambda: severity_set(n, "severities", pages), pages)
    if primary is None or to is None:
        return None
    return FallbackRule(receiver=primary, to=to, after_s=after, severities=severities)


def _step(n: Node, receivers: set[str], p: Problems) -> EscalationStep | None:
    p.only_keys(n, {"after", "to", "severities"}, "escalation_policy")
    to = p.attempt(lambda: _escalation_receiver(n, receivers), None)
    pages = frozenset({Severity.P0, Severity.P1})
    after = p.attempt(lambda: _escalation_after(n), None)
    severities = p.attempt(lambda: severity_set(n, "severities", pages), pages)
    if to is None or after is None:
        return None
    return EscalationStep(to=to, after_s=after, severities=severities)


def _escalation_receiver(n: Node, receivers: set[str]) -> str:
    name = get_str(n, "to", "")
    if name not in receivers:
        raise n.error("to", f"escalation_policy to {name!r} is not a configured notifier")
    return name


def _escalation_after(n: Node) -> float:
    after = duration(n, "after", None)
    if not after or after < 60:
        raise n.error("after", "an escalation step needs after: of at least 1m (e.g. after: 15m)")
    return after


def _fallback_receiver(n: Node, key: str, receivers: set[str]) -> str:
    name = get_str(n, key, "")
    if name not in receivers:
        raise n.error(key, f"fallback {key} {name!r} is not a configured notifier")
    return name


def _flap(n: Node, p: Problems) -> FlapPolicy:
    p.only_keys(n, {"window", "threshold"}, "flap")
    return FlapPolicy(
        window_s=p.duration(n, "window", 3600.0), threshold=p.attempt(lambda: _flap_threshold(n), 4)
    )


def _flap_threshold(n: Node) -> int:
    threshold = n.get("threshold", 4)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
        raise n.error("threshold", "flap.threshold must be an integer of at least 2")
    return threshold


# -- small typed getters ---------------------------------------------------------------
def _node(doc: Node, key: str) -> Node:
    value = doc.get(key)
    if not isinstance(value, Node):
        raise doc.error(key, f"'{key}' must be a mapping")
    return value


def severity_set(n: Node, key: str, default: frozenset[Severity]) -> frozenset[Severity]:
    """``severities: [P0, critical]``; ``default`` when absent or empty."""
    try:
        return frozenset(Severity.parse(s) for s in str_list(n, key)) or default
    except ValueError as exc:
        raise n.error(key, str(exc)) from exc


def event_set(n: Node, key: str) -> frozenset[Event]:
    """``events: [open, ack]``; when absent or empty, every event but reminders
    (:data:`triaged.alerts.route.DEFAULT_EVENTS`): they go only where a route names them."""
    known = {e.value: e for e in Event}
    names = str_list(n, key)
    for name in names:
        if name not in known:
            raise n.error(key, f"unknown event {name!r}: use one of {', '.join(known)}")
    return frozenset(known[name] for name in names) or DEFAULT_EVENTS


# The ways Alertmanager spells matchers: a list, and the older `match`/`match_re` maps.
_MATCH_KEYS = ("matchers", "match", "match_re")


def _matchers(n: Node, list_key: str, map_key: str, re_key: str | None = None) -> tuple[Matcher, ...]:
    """``matchers: ['service=~"a|b"']`` and/or ``match: {team: payments}`` and/or
    ``match_re: {env: 'prod|staging'}`` (Alertmanager's older forms, still in many
    configs); all must match."""
    found = list(_matcher_list(n, list_key))
    found.extend(_matcher_map(n, map_key, equality_matchers))
    if re_key is not None:
        found.extend(_matcher_map(n, re_key, regex_matchers))
    return tuple(found)


def _matcher_list(n: Node, key: str) -> tuple[Matcher, ...]:
    try:
        return parse_matchers(str_list(n, key))
    except MatcherError as exc:
        raise n.error(key, str(exc)) from exc


def _matcher_map(
    n: Node, key: str, build: Callable[[Mapping[str, str]], tuple[Matcher, ...]]
) -> tuple[Matcher, ...]:
    try:
        return build(_map_values(n, key))
    except MatcherError as exc:
        raise n.error(key, str(exc)) from exc


def match_map(n: Node, key: str) -> dict[str, str]:
    """A flat route's ``match: {label: value}``, read and checked as the tree's."""
    _matcher_map(n, key, equality_matchers)
    return _map_values(n, key)


def _map_values(n: Node, key: str) -> dict[str, str]:
    mapping = n.get(key)
    if mapping is None:
        return {}
    if not isinstance(mapping, Node):
        raise n.error(key, f"'{key}' must be a mapping of label: value")
    return {str(k): _map_value(mapping, k, key) for k in mapping}


def _map_value(mapping: Node, label: str, key: str) -> str:
    """A ``match``/``match_re`` value as Alertmanager reads it: the scalar as written
    (``true``, ``0x10`` and ``1.10`` stay as they are, not ``True``, ``16``, ``1.1``),
    and null as the empty value."""
    if mapping.get(label) is None:
        return ""
    text = mapping.text(label)
    if text is None:
        raise mapping.error(label, f"'{key}' values must be strings, not a list or mapping")
    return text
