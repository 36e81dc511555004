"""How long each phase of an incident took, from the timestamps on its record.

The clock starts at ``detected_at`` (the first alert went pending: the earliest moment
the rules saw the symptom). Time to detect ends when the incident opened (the page);
acknowledge, mitigate and resolve are measured from the page, because that is when a
human could start acting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from triaged.incidents.model import Incident
from triaged.yamlfile import format_duration


@dataclass(frozen=True)
class Durations:
    detect: float | None
    acknowledge: float | None
    mitigate: float | None
    resolve: float | None
    total: float | None  # first symptom to resolve: how long users were affected


def durations(inc: Incident) -> Durations:
    def since(start: float | None, end: float | None) -> float | None:
        return None if start is None or end is None else max(0.0, end - start)

    return Durations(
        detect=since(inc.detected_at, inc.opened_at),
        acknowledge=since(inc.opened_at, inc.acknowledged_at),
        mitigate=since(inc.opened_at, inc.mitigated_at),
        resolve=since(inc.opened_at, inc.resolved_at),
        total=since(inc.detected_at, inc.resolved_at),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_duration(seconds)
