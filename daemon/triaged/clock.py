"""The clock is a collaborator: only scheduler jobs read it, logic takes ``now``."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def utc_text(ts: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC. A stored time beyond the calendar (a due date
    from before they were bounded) prints as such instead of raising."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return f"(out of range: {ts:.6g})"
