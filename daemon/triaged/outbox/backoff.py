"""Retry schedule as a pure function of the attempt number."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 2.0
    cap_s: float = 300.0
    max_attempts: int = 50
    jitter: float = 0.2  # ± fraction, so many rows failing together do not retry in lockstep
    # A receiver's Retry-After is honoured up to this: "come back tomorrow" would hold
    # every later page to it (they go in order) for a day.
    max_retry_after_s: float = 900.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        doublings = min(max(0, attempt - 1), 64)  # 2.0**1024 overflows; the cap is long reached
        raw = float(min(self.cap_s, self.base_s * 2.0**doublings))
        if not self.jitter:
            return raw
        r = (rng or random).uniform(-self.jitter, self.jitter)
        return float(max(0.0, raw * (1 + r)))

    def after(self, attempt: int, retry_after: float | None) -> float:
        """The delay after a failed attempt, no sooner than the receiver asked."""
        delay = self.delay(attempt)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after_s))
        return delay
