"""Series kept in memory, bounded by retention and by series count.

Each series holds two parallel sequences sorted by time: timestamps in ms (a list:
every series of one scrape points at the same int object, so a point costs 8 bytes)
and values (:class:`Floats`, packed C doubles: 8 bytes a point instead of 32 for a
list of float objects). Appends are amortised O(1); old points are cut in batches by
:meth:`Storage.gc` so the hot path never shifts a list. Lookups go through an index
on the metric name, which is what nearly every PromQL selector names.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, SupportsIndex, overload

from triaged.model import METRIC_NAME, STALE_NAN, Labels, Matcher, MatchOp


class Floats(array):  # type: ignore[type-arg]
    """Sample values packed as C doubles, read like a list of floats.

    A slice comes back as a ``list`` (not an array) so the PromQL engine, which
    compares and combines value slices as lists, sees exactly what it saw before;
    that is also why ``__getitem__`` deliberately departs from ``array``'s signature.
    Staleness markers keep their NaN bit pattern: storing a double keeps its bits.
    """

    __slots__ = ()

    def __new__(cls, values: Iterable[float] = ()) -> Floats:
        return array.__new__(cls, "d", values)  # type: ignore[return-value]

    @overload  # type: ignore[override]
    def __getitem__(self, index: SupportsIndex) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> list[float]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> float | list[float]:
        if type(index) is slice:
            part: list[float] = array.__getitem__(self, index).tolist()
            return part
        value: float = array.__getitem__(self, index)
        return value


class Series:
    __slots__ = ("labels", "timestamps", "values")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.timestamps: list[int] = []
        self.values: Floats = Floats()

    def append(self, t_ms: int, value: float) -> bool:
        """Add a point; out-of-order and duplicate timestamps are refused, as in
        Prometheus, so a clock step back never corrupts a series."""
        ts = self.timestamps
        if ts and t_ms <= ts[-1]:
            return False
        ts.append(t_ms)
        self.values.append(value)
        return True

    def range(self, mint: int, maxt: int) -> tuple[list[int], list[float]]:
        """Points with ``mint <= t <= maxt``."""
        ts = self.timestamps
        lo = bisect.bisect_left(ts, mint)
        hi = bisect.bisect_right(ts, maxt, lo)
        return ts[lo:hi], self.values[lo:hi]

    def bounds(self, mint: int, maxt: int) -> tuple[int, int]:
        """Index range ``[lo, hi)`` of points with ``mint <= t <= maxt`` (no copying)."""
        ts = self.timestamps
        lo = bisect.bisect_left(ts, mint)
        return lo, bisect.bisect_right(ts, maxt, lo)

    def trim_before(self, t_ms: int) -> int:
        cut = bisect.bisect_left(self.timestamps, t_ms)
        if cut:
            del self.timestamps[:cut]
            del self.values[:cut]
        return cut

    def __repr__(self) -> str:
        return f"Series({self.labels}, {len(self.timestamps)} points)"


class SeriesSource(Protocol):
    """What the PromQL engine reads. Storage implements it; tests may use their own."""

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        """Series matching every matcher that have at least one point in [mint, maxt]."""
        ...


@dataclass(frozen=True)
class StorageLimits:
    retention_ms: int | None = 3_600_000
    max_series: int = 1_000_000


class Storage:
    def __init__(self, limits: StorageLimits | None = None) -> None:
        self.limits = limits or StorageLimits()
        self._series: dict[Labels, Series] = {}
        self._by_name: dict[str, dict[Labels, Series]] = {}
        # Per scrape source: the series it wrote last time, to mark vanished ones stale.
        self._last_seen: dict[str, set[Labels]] = {}
        self.rejected_series = 0
        self.rejected_samples = 0
        # Bumped whenever the set of series changes, so the PromQL engine can reuse
        # which series a selector matched until then (label matching is the costly part).
        self.generation = 0

    # -- writing -------------------------------------------------------------------
    def get_or_create(self, labels: Labels) -> Series | None:
        series = self._series.get(labels)
        if series is not None:
            return series
        if len(self._series) >= self.limits.max_series:
            self.rejected_series += 1
            return None
        series = Series(labels)
        self.generation += 1
        self._series[labels] = series
        self._by_name.setdefault(labels.name, {})[labels] = series
        return series

    def append(self, labels: Labels, t_ms: int, value: float) -> bool:
        series = self.get_or_create(labels)
        if series is None or not series.append(t_ms, value):
            self.rejected_samples += 1
            return False
        return True

    def append_batch(self, source: str, samples: Iterable[tuple[Labels, float]], t_ms: int) -> int:
        """Write one scrape of ``source`` at ``t_ms`` and mark series it no longer
        reports as stale, so an instant query stops seeing them at once instead of
        after the 5 minute lookback. Returns the number of samples stored."""
        seen: set[Labels] = set()
        stored = 0
        for labels, value in samples:
            if labels in seen:
                continue  # a duplicate line in one scrape: first wins, as in Prometheus
            seen.add(labels)
            if self.append(labels, t_ms, value):
                stored += 1
        self.mark_stale(source, seen, t_ms)
        return stored

    def mark_stale(self, source: str, seen: set[Labels], t_ms: int) -> None:
        previous = self._last_seen.get(source, set())
        for labels in previous - seen:
            series = self._series.get(labels)
            if series is not None:
                series.append(t_ms, STALE_NAN)
        self._last_seen[source] = seen

    def forget_source(self, source: str, t_ms: int) -> None:
        """A target was removed from config: its series go stale now."""
        self.mark_stale(source, set(), t_ms)
        self._last_seen.pop(source, None)

    # -- reading -------------------------------------------------------------------
    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        candidates = self._candidates(matchers)
        out: list[Series] = []
        for series in candidates:
            ts = series.timestamps
            if not ts or ts[-1] < mint or ts[0] > maxt:
                continue
            if all(m.matches(series.labels.get(m.name)) for m in matchers):
                out.append(series)
        return out

    def _candidates(self, matchers: Sequence[Matcher]) -> Iterable[Series]:
        for m in matchers:
            if m.name == METRIC_NAME and m.op is MatchOp.EQ:
                return self._by_name.get(m.value, {}).values()
        return self._series.values()

    def __len__(self) -> int:
        return len(self._series)

    def __iter__(self) -> Iterator[Series]:
        return iter(self._series.values())

    def sample_count(self) -> int:
        return sum(len(s.timestamps) for s in self._series.values())

    # -- housekeeping --------------------------------------------------------------
    def gc(self, now_ms: int) -> int:
        """Drop points older than the retention and series left empty. Returns the
        number of series removed."""
        retention = self.limits.retention_ms
        if retention is None:
            return 0
        cutoff = now_ms - retention
        dead: list[Labels] = []
        for labels, series in self._series.items():
            series.trim_before(cutoff)
            if not series.timestamps:
                dead.append(labels)
        if dead:
            self.generation += 1
        for labels in dead:
            del self._series[labels]
            by_name = self._by_name.get(labels.name)
            if by_name is not None:
                by_name.pop(labels, None)
                if not by_name:
                    del self._by_name[labels.name]
        return len(dead)

    def clear(self) -> None:
        self.generation += 1
        self._series.clear()
        self._by_name.clear()
        self._last_seen.clear()
