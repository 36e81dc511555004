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

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = float(min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1)))
        if not self.jitter:
            return raw
        r = (rng or random).uniform(-self.jitter, self.jitter)
        return float(max(0.0, raw * (1 + r)))
