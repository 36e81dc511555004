"""Token bucket and exponential backoff, both driven by a ``now`` passed in.

Neither reads the clock nor sleeps: callers ask "may I call now?" and, if not,
"how long until I may?", and turn the answer into data (a skipped poll, a
``retry_after`` for the outbox).
"""

from __future__ import annotations

import random
import threading


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``. Thread-safe, because
    scheduler jobs for different queries may poll at the same instant."""

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now
        self._lock = threading.Lock()

    @classmethod
    def per_minute(cls, count: int, *, now: float | None = None) -> TokenBucket:
        return cls(count / 60.0, float(count), now=now)

    def _refill(self, now: float) -> None:
        if self._stamp is None:
            self._stamp = now
        elapsed = max(0.0, now - self._stamp)  # a clock step back never adds tokens
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)

    def try_take(self, now: float, tokens: float = 1.0) -> bool:
        with self._lock:
            self._refill(now)
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    def wait_time(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are available (0 if they are now)."""
        with self._lock:
            self._refill(now)
            missing = tokens - self._tokens
            return 0.0 if missing <= 0 else float(missing / self.rate)

    def drain(self, now: float) -> None:
        """Empty the bucket, e.g. after the server answered 429 despite our shaping."""
        with self._lock:
            self._refill(now)
            self._tokens = 0.0


class Backoff:
    """Exponential backoff with jitter after retryable failures.

    The n-th consecutive failure blocks calls for ``initial * 2**(n-1)`` seconds,
    capped at ``maximum``, scaled by a random factor in [0.5, 1.0] so many pollers
    that failed together do not retry together. A server's Retry-After wins if longer.
    """

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.until = 0.0
        self._rng = rng or random.Random()

    def blocked(self, now: float) -> bool:
        return now < self.until

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def failure(self, now: float, retry_after: float | None = None) -> float:
        """Record a retryable failure; returns the delay chosen."""
        self.failures += 1
        base = min(self.maximum, self.initial * 2.0 ** min(self.failures - 1, 30))
        delay = base * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.maximum))
        self.until = now + delay
        return delay

    def success(self) -> None:
        self.failures = 0
        self.until = 0.0
