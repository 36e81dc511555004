"""Flap detection: a rule that starts firing too often within a window is flapping.
It is counted per incident group (one service's outages do not make another's rule
flap) and per return of the rule, not per series.

Reopening (instead of opening a new incident) keeps one flapping outage to one
incident; this module decides when the flapping itself must be reported, and when
a reopen stops being worth a page because the rule is known to be flapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FlapPolicy:
    window_s: float = 3600.0
    threshold: int = 4  # firing starts of one rule inside the window


@dataclass(frozen=True)
class FlapVerdict:
    flapping: bool
    starts: int
    window_s: float

    @property
    def text(self) -> str:
        return f"started firing {self.starts} times in {self.window_s / 60:.0f}m"


def episode_starts(changes: Sequence[tuple[float, int]]) -> list[float]:
    """When a rule went from no series firing to some, from its series' starts (+1),
    stops (-1) and the ends of their incidents (0: none fires any more), in order:
    two probes failing together, or one after the other, are one return of the rule,
    not two. The count never goes below zero."""
    firing, starts = 0, []
    for at, change in changes:
        if change > 0:
            if firing == 0:
                starts.append(at)
            firing += 1
        elif change < 0:
            firing = max(0, firing - 1)
        else:
            firing = 0
    return starts


def judge(starts: Sequence[float], now: float, policy: FlapPolicy) -> FlapVerdict:
    """``starts``: when the rule began firing (each clear-and-return counts once)."""
    recent = sum(1 for t in starts if now - policy.window_s <= t <= now)
    return FlapVerdict(recent >= policy.threshold, recent, policy.window_s)
