"""Which receivers get a notification: a routing tree matched on labels, as in Alertmanager.

Matching starts at the root, which takes everything. Children are tried in order;
the first that matches wins unless it says ``continue``, in which case later siblings
are tried too. A node whose children all miss delivers to its own receiver. Unset
receivers and timings are inherited from the parent.

Labels seen by the tree are the incident's labels plus ``severity`` (P0–P3), so
``severity=~"P0|P1"`` routes pages and ``team="payments"`` routes by ownership.

A route without ``events:`` takes every event except reminders (:data:`DEFAULT_EVENTS`):
a daily "[reminder] action item #1 is overdue" is for an owner at work, and a route
written for pages (say to PagerDuty) must not wake the on-call with it. Reminders go
only where a route names them. In the tree ``events:`` is inherited like the receiver,
so a node that names ``reminder`` lets its children deliver reminders too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from triaged.alerts.silence import equality_matchers, matches_all
from triaged.messages import Event
from triaged.model import Matcher, Severity

# What a route without ``events:`` takes: everything but reminders (see the module doc).
DEFAULT_EVENTS: frozenset[Event] = frozenset(Event) - {Event.REMINDER}


@dataclass(frozen=True)
class Route:
    """A flat route (the walking skeleton's ``routes:`` list): every matching one gets it."""

    receiver: str
    severities: frozenset[Severity] = frozenset(Severity)
    events: frozenset[Event] = DEFAULT_EVENTS
    match: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteNode:
    receiver: str | None = None
    matchers: tuple[Matcher, ...] = ()
    severities: frozenset[Severity] = frozenset(Severity)
    # What this node's receiver is sent. None: inherited (the root's default is
    # DEFAULT_EVENTS). A child's own list stands, as its own receiver does: events
    # never filter which routes match, only what each one delivers.
    events: frozenset[Event] | None = None
    continue_: bool = False
    group_wait_s: float | None = None
    group_interval_s: float | None = None
    repeat_interval_s: float | None = None
    routes: tuple[RouteNode, ...] = ()

    def accepts(self, labels: Mapping[str, str], severity: Severity) -> bool:
        return severity in self.severities and matches_all(self.matchers, labels)

    def delivers(self, event: Event) -> bool:
        """Whether this node, once its inherited settings are filled in, sends ``event``
        to its own receiver."""
        return event in (self.events if self.events is not None else DEFAULT_EVENTS)

    def receivers_named(self) -> set[str]:
        names = {self.receiver} if self.receiver else set()
        for child in self.routes:
            names |= child.receivers_named()
        return names


@dataclass(frozen=True)
class Destination:
    """One receiver chosen for a notification, with the timings of the route that chose it."""

    receiver: str
    path: str
    group_wait_s: float = 0.0
    group_interval_s: float = 0.0
    repeat_interval_s: float | None = None


@dataclass(frozen=True)
class FallbackRule:
    """When ``receiver`` has not delivered a page of these severities for ``after_s``,
    a copy goes through ``to`` (see :mod:`triaged.outbox.fallback`)."""

    receiver: str
    to: str
    after_s: float = 300.0
    severities: frozenset[Severity] = frozenset({Severity.P0, Severity.P1})


@dataclass(frozen=True)
class EscalationStep:
    """When an incident of these severities is still unacknowledged ``after_s`` after it
    opened (or reopened), page ``to`` as well (see :mod:`triaged.outbox.escalation`)."""

    to: str
    after_s: float
    severities: frozenset[Severity] = frozenset({Severity.P0, Severity.P1})


def flat_tree(routes: Sequence[Route]) -> RouteNode:
    """The flat list as a tree: a receiver-less root whose children all ``continue``."""
    children = tuple(
        RouteNode(
            receiver=r.receiver,
            matchers=equality_matchers(r.match),
            severities=r.severities,
            events=r.events,
            continue_=True,
        )
        for r in routes
    )
    return RouteNode(routes=children)


class Router:
    def __init__(self, routes: Sequence[Route] | RouteNode) -> None:
        self.root = routes if isinstance(routes, RouteNode) else flat_tree(routes)

    def receivers(self, labels: Mapping[str, str], severity: Severity, event: Event) -> list[str]:
        return [d.receiver for d in self.destinations(labels, severity, event)]

    def destinations(self, labels: Mapping[str, str], severity: Severity, event: Event) -> list[Destination]:
        """Every receiver the tree picks, each once (the first route to pick it wins)."""
        seen: dict[str, Destination] = {}
        full = {**labels, "severity": severity.name}
        for dest in _match(self.root, _root_defaults(self.root), "root", _Query(full, severity, event)):
            seen.setdefault(dest.receiver, dest)
        return list(seen.values())

    def routes_to(self, receiver: str) -> bool:
        """Whether any route names ``receiver`` (one paged only by an escalation policy
        or a fallback is named by none)."""
        return receiver in _named(self.root)

    def takes(self, receiver: str, event: Event) -> bool:
        """Whether some route sending to ``receiver`` delivers ``event`` at all (its
        ``events:``, inherited as in matching). A follow-up for a receiver that was paged
        before the incident's routing changed goes only where the config allows it."""
        return receiver in _takers(self.root, _root_defaults(self.root), event)


def _named(node: RouteNode) -> set[str]:
    names = {node.receiver} if node.receiver else set()
    for child in node.routes:
        names |= _named(child)
    return names


def _takers(node: RouteNode, effective: RouteNode, event: Event) -> set[str]:
    names = {effective.receiver} if effective.receiver and effective.delivers(event) else set()
    for child in node.routes:
        names |= _takers(child, _inherit(child, effective), event)
    return names


def _root_defaults(root: RouteNode) -> RouteNode:
    return replace(
        root,
        group_wait_s=root.group_wait_s if root.group_wait_s is not None else 0.0,
        group_interval_s=root.group_interval_s if root.group_interval_s is not None else 0.0,
        events=root.events if root.events is not None else DEFAULT_EVENTS,
    )


def _pick(own: float | None, inherited: float | None) -> float | None:
    return own if own is not None else inherited


def _inherit(child: RouteNode, parent: RouteNode) -> RouteNode:
    return replace(
        child,
        receiver=child.receiver or parent.receiver,
        events=child.events if child.events is not None else parent.events,
        group_wait_s=_pick(child.group_wait_s, parent.group_wait_s),
        group_interval_s=_pick(child.group_interval_s, parent.group_interval_s),
        repeat_interval_s=_pick(child.repeat_interval_s, parent.repeat_interval_s),
    )


@dataclass(frozen=True)
class _Query:
    labels: Mapping[str, str]
    severity: Severity
    event: Event


def _match(node: RouteNode, effective: RouteNode, path: str, q: _Query) -> list[Destination]:
    if not node.accepts(q.labels, q.severity):
        return []
    found: list[Destination] = []
    for i, child in enumerate(node.routes):
        hits = _match(child, _inherit(child, effective), f"{path}/{i}", q)
        if hits:
            found.extend(hits)
            if not child.continue_:
                break
    if found or not effective.receiver or not effective.delivers(q.event):
        return found
    return [
        Destination(
            receiver=effective.receiver,
            path=path,
            group_wait_s=effective.group_wait_s or 0.0,
            group_interval_s=effective.group_interval_s or 0.0,
            repeat_interval_s=effective.repeat_interval_s,
        )
    ]
