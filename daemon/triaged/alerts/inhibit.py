"""Inhibition: a firing source alert mutes target alerts that share the ``equal`` labels.

The classic rule: a P0 "service down" suppresses the P1/P2 symptoms of the same
service, so the on-call reads one page about the cause, not five about its effects.
As in Alertmanager, an alert never inhibits itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triaged.alerts.silence import Mute, alert_labels, matches_all
from triaged.model import Matcher

if TYPE_CHECKING:
    from triaged.rules.alerting import Alert


@dataclass(frozen=True)
class InhibitRule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


# Firing alerts with their labels as matchers see them (severity normalised).
_Sources = list[tuple["Alert", dict[str, str]]]


class Inhibitor:
    """Bound to the firing alerts of one evaluation; mutes targets of those sources."""

    def __init__(self, rules: Sequence[InhibitRule], firing: Sequence[Alert]) -> None:
        self.rules = list(rules)
        labelled = [(a, alert_labels(a)) for a in firing]
        # By position, not name: two rules may share a name.
        self._sources: list[_Sources] = [
            [(a, lb) for a, lb in labelled if matches_all(r.source, lb)] for r in self.rules
        ]

    def mute(self, alert: Alert, labels: Mapping[str, str], now: float) -> Mute | None:
        for rule, sources in zip(self.rules, self._sources, strict=True):
            hits = _inhibiting(rule, sources, labels)
            if hits:
                source, source_labels = hits[0]
                return Mute(
                    "inhibit",
                    source.fingerprint,
                    f"inhibited by {source.rule} ({_equal_text(rule, source_labels)}), rule {rule.name}",
                )
        return None

    def would_inhibit(self, labels: Mapping[str, str]) -> list[str]:
        """For ``triaged route test``: which current sources would mute ``labels``."""
        return [
            f"{rule.name}: inhibited by firing {source.rule}"
            for rule, sources in zip(self.rules, self._sources, strict=True)
            for source, _ in _inhibiting(rule, sources, labels)
        ]


def _inhibiting(rule: InhibitRule, sources: _Sources, labels: Mapping[str, str]) -> _Sources:
    """The firing ``sources`` of ``rule`` that mute an alert with ``labels``. As in
    Alertmanager, when the alert matches the source side too, sources that match the
    target side do not count: two alerts that both match both sides would otherwise
    mute each other and nobody would be paged. That also keeps an alert from
    inhibiting itself. A label in ``equal`` missing from both counts as equal."""
    if not matches_all(rule.target, labels):
        return []
    two_sided = matches_all(rule.source, labels)
    return [
        (source, source_labels)
        for source, source_labels in sources
        if not (two_sided and matches_all(rule.target, source_labels))
        and all(labels.get(k, "") == source_labels.get(k, "") for k in rule.equal)
    ]


def _equal_text(rule: InhibitRule, labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={labels.get(k, '')}" for k in rule.equal) or "no equal labels"
