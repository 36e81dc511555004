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


class Inhibitor:
    """Bound to the firing alerts of one evaluation; mutes targets of those sources."""

    def __init__(self, rules: Sequence[InhibitRule], firing: Sequence[Alert]) -> None:
        self.rules = list(rules)
        labelled = [(a, alert_labels(a)) for a in firing]
        self._sources = {r.name: [(a, lb) for a, lb in labelled if matches_all(r.source, lb)] for r in rules}

    def mute(self, alert: Alert, labels: Mapping[str, str], now: float) -> Mute | None:
        for rule in self.rules:
            if not matches_all(rule.target, labels):
                continue
            for source, source_labels in self._sources[rule.name]:
                if source.fingerprint == alert.fingerprint:
                    continue
                if all(labels.get(k, "") == source_labels.get(k, "") for k in rule.equal):
                    return Mute(
                        "inhibit",
                        source.fingerprint,
                        f"inhibited by {source.rule} ({_equal_text(rule, source_labels)}), rule {rule.name}",
                    )
        return None

    def would_inhibit(self, labels: Mapping[str, str]) -> list[str]:
        """For ``triaged route test``: which current sources would mute ``labels``."""
        found: list[str] = []
        for rule in self.rules:
            if not matches_all(rule.target, labels):
                continue
            for source, source_labels in self._sources[rule.name]:
                if all(labels.get(k, "") == source_labels.get(k, "") for k in rule.equal):
                    found.append(f"{rule.name}: inhibited by firing {source.rule}")
        return found


def _equal_text(rule: InhibitRule, labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={labels.get(k, '')}" for k in rule.equal) or "no equal labels"
