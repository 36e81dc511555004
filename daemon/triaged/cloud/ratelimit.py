"""Token bucket, rolling limit and exponential backoff, all driven by a ``now`` passed in.

None reads the clock or sleeps: callers ask "may I call now?" and, if not,
"how long until I may?", and turn the answer into data (a skipped poll, a
``retry_after`` for the outbox).
"""

from __future__ import annotations

import random
import threading
from collections import deque


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


class RollingLimit:
    """At most ``limit`` calls in any ``window`` seconds. Thread-safe.

    Stricter than a token bucket of the same rate, which lets a full burst through and
    then keeps refilling, so up to twice ``limit`` can pass within one window. ONS
    counts deliveries per subscription per minute (10 for email), and a message over
    that is throttled after ONS accepted it, out of the outbox's reach; so pages are
    held here, where they wait and are never lost.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        calls = self._calls
        if calls and calls[-1] > now:
            # The clock stepped back: count those calls as made now, so a step back of
            # an hour holds calls for one window, not for an hour.
            self._calls = calls = deque(min(t, now) for t in calls)
        while calls and calls[0] <= now - self.window:
            calls.popleft()

    def try_take(self, now: float) -> bool:
        with self._lock:
            self._expire(now)
            if len(self._calls) >= self.limit:
                return False
            self._calls.append(now)
            return True

    def wait_time(self, now: float) -> float:
        """Seconds until a call is allowed (0 if it is now)."""
        with self._lock:
            self._expire(now)
            if len(self._calls) < self.limit:
                return 0.0
            return float(self._calls[0] + self.window - now)

    def drain(self, now: float) -> None:
        """Count the window as full, e.g. after the server answered 429 despite our
        count: the next call waits for the oldest call in it to expire, at least 1/limit
        of the window."""
        with self._lock:
            self._expire(now)
            step = self.window / self.limit
            while len(self._calls) < self.limit:
                self._calls.appendleft(now - self.window + step)


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
