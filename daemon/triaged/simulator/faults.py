"""The faults one can inject into the simulated BharatMart, as one frozen value.

Changing faults means building a new :class:`Faults` with :meth:`Faults.updated`,
which validates names, types and ranges, so the control API can hand a client's JSON
straight to it and answer 400 with the one-line message on error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BASELINE_PAYMENT_FAILURE_RATIO", "FaultError", "Faults"]

# The real app fails payments at random; ~1 % keeps the baseline alert-free but not flat.
BASELINE_PAYMENT_FAILURE_RATIO = 0.01
MAX_LATENCY_MS = 60_000.0


class FaultError(ValueError):
    """An invalid fault change; the message is one line, fit for an HTTP 400 body."""


@dataclass(frozen=True)
class Faults:
    """Current fault state; the defaults are a healthy app.

    - ``latency_ms``: added to every simulated request and reported as
      ``simulated_latency_ms``; real HTTP answers are delayed by at most 700 ms.
    - ``payment_failure_ratio``: share of payments that fail.
    - ``db_pool_in_use_ratio``: pin the pool gauge to this share of its max
      (``None`` lets it wander between 20 and 40 %).
    - ``chaos_enabled``: ~10 % of requests count a chaos event.
    - ``environment``: the ``environment`` label on every series.
    - ``ready``: when false, ``/api/health`` answers 500 and ``/ready`` 503.
    - ``db_down``: the database is gone: not ready, DB-backed routes answer 500,
      orders fail, retries and circuit-breaker openings are counted.
    - ``health_hang``: health endpoints stop answering (a hung dependency).
    - ``down``: the app stops listening; connections are refused.
    - ``startup_failure``: the app crash-loops: ``errors_total{error_type=
      "startup_failure"}`` and ``service_restarts_total`` grow once a second.
    """

    latency_ms: float = 0.0
    payment_failure_ratio: float = BASELINE_PAYMENT_FAILURE_RATIO
    db_pool_in_use_ratio: float | None = None
    chaos_enabled: bool = False
    environment: str = "staging"
    ready: bool = True
    db_down: bool = False
    health_hang: bool = False
    down: bool = False
    startup_failure: bool = False

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied; unknown names or bad values raise."""
        known = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise FaultError(
                f"unknown fault field(s): {', '.join(unknown)}; the fields are {', '.join(known)}"
            )
        clean = {name: _check(name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **clean)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def healthy(self) -> bool:
        return self.ready and not self.db_down


_BOOLS = {"chaos_enabled", "ready", "db_down", "health_hang", "down", "startup_failure"}
_RATIOS = {"payment_failure_ratio", "db_pool_in_use_ratio"}


def _check(name: str, value: Any) -> Any:
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise FaultError(f"{name} must be true or false, not {value!r}")
        return value
    if name == "environment":
        if not isinstance(value, str) or not value:
            raise FaultError(f"environment must be a non-empty string, not {value!r}")
        return value
    if name == "db_pool_in_use_ratio" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if name in _RATIOS and not 0.0 <= number <= 1.0:
        raise FaultError(f"{name} must be between 0 and 1, not {value!r}")
    if name == "latency_ms" and not 0.0 <= number <= MAX_LATENCY_MS:
        raise FaultError(f"latency_ms must be between 0 and {MAX_LATENCY_MS:g}, not {value!r}")
    return number
