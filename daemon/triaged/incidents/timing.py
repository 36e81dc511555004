"""How long each phase of an incident took, from the timestamps on its record.

The clock starts at ``detected_at`` (the first alert went pending: the earliest moment
the rules saw the symptom). Time to detect ends when the incident opened (the page);
acknowledge, mitigate and resolve are measured from the page, because that is when a
human could start acting.

An incident that reopens has several lifetimes (:class:`Lifetime`). Time to
acknowledge and to mitigate are those of the first lifetime: how fast the page was
answered, which a later re-ack two minutes after a reopen must not rewrite. Time to
resolve and the total count only the time the incident was open, lifetime by
lifetime: the healthy gap between a resolve and the reopen is not outage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from triaged.durations import format_duration
from triaged.incidents.model import AUTO_ACTOR, Incident, Lifetime


@dataclass(frozen=True)
class Durations:
    detect: float | None
    acknowledge: float | None
    mitigate: float | None
    resolve: float | None
    total: float | None  # first symptom to resolve, without healthy gaps: how long users were affected


def since(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, end - start)


def open_for(life: Lifetime) -> float | None:
    """How long one lifetime lasted (None while it is still open)."""
    return since(life.started_at, life.resolved_at)


def reopened_by_hand(life: Lifetime) -> bool:
    """On-call reopened it (no alert fired): not a flap of the fix or the alert."""
    return life.reopened_by is not None and life.reopened_by != AUTO_ACTOR


def reopens(inc: Incident) -> tuple[int, int]:
    """How many times the incident reopened: (alerts came back, by hand). From
    ``reopen_count``, which records older than lifetimes also have."""
    by_hand = sum(1 for life in inc.lifetimes[1:] if reopened_by_hand(life))
    return max(0, inc.reopen_count - by_hand), by_hand


def lifetime_origin(life: Lifetime) -> str:
    """How a lifetime began, for people: the page, alerts coming back, or a hand reopen."""
    if life.reopened_by is None:
        return "paged"
    return "alerts returned" if life.reopened_by == AUTO_ACTOR else f"reopened by {life.reopened_by}"


def durations(inc: Incident) -> Durations:
    first, *later = inc.lifetimes
    resolve = since(inc.opened_at, first.resolved_at)
    for life in later:
        length = open_for(life)
        resolve = None if resolve is None or length is None else resolve + length
    detect = since(inc.detected_at, inc.opened_at)
    return Durations(
        detect=detect,
        acknowledge=since(inc.opened_at, first.acknowledged_at),
        mitigate=since(inc.opened_at, first.mitigated_at),
        resolve=resolve,
        total=None if resolve is None or detect is None else detect + resolve,
    )


def ever_acknowledged(inc: Incident) -> bool:
    return any(life.acknowledged_at is not None for life in inc.lifetimes)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def human(seconds: float | None) -> str:
    """An incident's durations to the second, as its times are printed: a rule without
    ``for:`` detects in no time, which is ``0s``, not ``0ms``; 0.6 s is ``1s``, not
    ``600ms`` beside the same times a second apart."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    return "0s" if whole == 0 else format_duration(whole)
