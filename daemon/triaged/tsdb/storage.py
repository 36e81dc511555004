"""Series kept in memory, bounded by retention and by series count.

Each series holds two parallel sequences sorted by time: timestamps in ms (a list of
ints) and values (:class:`Floats`: packed, 4 or 8 bytes a point instead of 32 for a
list of float objects). The series a scrape source reports every time share one list
of timestamps, the source's :class:`TimeColumn`, so their points cost only the value.
Appends are amortised O(1); old points are cut in batches by :meth:`Storage.gc` so the
hot path never shifts a list. Lookups go through an index on the metric name, which is
what nearly every PromQL selector names. Not thread-safe: the daemon writes, trims and
reads it under one lock.

``max_series`` bounds the whole daemon. When it is reached, a new series first evicts
series their source no longer reports (they end in a staleness marker), those gone
longest first; only when there are none is it refused. So a target whose label values
churn (a request id in a label) fills the budget with series that vanish a scrape
later and cannot keep a healthy target's new series out. Both are counted and
reported in one warning a minute (:mod:`triaged.tsdb.pressure`).

Points that carry their own time (OCI Monitoring datapoints) are written by
:meth:`Storage.append_timestamped`. Their source says whether they are revisable: a
revisable point replaces the value held at its time, or is inserted before the
newest point if it arrived late, within the retention; ``revised_samples`` and
``inserted_samples`` count both. Everything else, and every scrape, is refused when
it is not newer than the series' last point, as in Prometheus.
"""

from __future__ import annotations

import bisect
import functools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from triaged.model import METRIC_NAME, STALE_NAN, Labels, Matcher, MatchOp, Sample, is_stale
from triaged.tsdb.pressure import SeriesPressure
from triaged.tsdb.series import Revision, Series, TimeColumn, put

log = structlog.get_logger("triaged.tsdb")

# Series written by `append` (no scrape source), as the pressure report names them.
NO_SOURCE = "(direct)"
# One eviction frees this share of the limit at once: dropping series rebuilds their
# metric's index list, so it is done in batches, not a series at a time.
EVICT_SHARE = 128
EVICT_MIN = 16


def _trim_heap() -> None:
    """Hand free heap pages back to the OS (glibc's ``malloc_trim``; elsewhere a no-op).

    Scrapes parse in worker threads, and glibc gives each thread its own heap: payloads
    freed there stay in the process's RSS as free pages (~25-40 bytes per stored series
    at 200k series, measured). Called by :meth:`Storage.gc`, once a minute in the
    daemon; it takes a few milliseconds.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # noqa: PLC0415 - only gc needs it; the CLI imports this module too

    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
    return trim


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
        # Lists, not dicts: a list slot costs 8 bytes a series, a dict entry ~45. Only
        # gc removes from them, in one pass per metric name.
        self._by_name: dict[str, list[Series]] = {}
        # Per scrape source: the series it wrote last time, to mark vanished ones stale.
        # A list, not a set of labels: each series carries the epoch of the last scrape
        # that reported it, so "reported now?" is an attribute test, not a hash lookup.
        self._last_seen: dict[str, list[Series]] = {}
        self._epoch = 0
        self._columns: dict[str, TimeColumn] = {}
        # Series given a staleness marker, in that order: the eviction candidates once
        # the limit is reached. Holds only series that vanished, never live ones; stale
        # entries (back again, or dropped) are skipped, and gc compacts it.
        self._vanished: deque[Series] = deque()
        self.rejected_series = 0
        self.rejected_samples = 0
        self.revised_samples = 0  # revisable points that replaced a stored value
        self.inserted_samples = 0  # revisable points inserted before a series' newest
        self.evicted_series = 0
        self.zeroed_series = 0  # new counters started from zero at the previous scrape
        # Metric names of series the series limit refused or evicted, with when (the
        # latest scrape's ms): a "new" series of such a name may be one the app exposed
        # all along, whose running total would read as a burst if started from zero.
        # Forgotten after the retention, as gc forgets a vanished series.
        self._limited_names: dict[str, int] = {}
        self._latest_ms = 0
        self.pressure = SeriesPressure()
        # Per source: the first series its latest scrape reported twice (logged once,
        # when its duplicates start; a scrape without any clears it).
        self.duplicated: dict[str, Labels] = {}
        # Bumped whenever the set of series changes, so the PromQL engine can reuse
        # which series a selector matched until then (label matching is the costly part).
        self.generation = 0

    # -- writing -------------------------------------------------------------------
    def get_or_create(self, labels: Labels, source: str = NO_SOURCE) -> Series | None:
        series = self._series.get(labels)
        if series is not None:
            return series
        if len(self._series) >= self.limits.max_series:
            admitted = self._evict_vanished()
            self.pressure.note(source, refused=not admitted)
            if not admitted:
                self.rejected_series += 1
                self._limited_names[labels.name] = self._latest_ms
                return None
        series = Series(labels)
        self.generation += 1
        self._series[labels] = series
        self._by_name.setdefault(labels.name, []).append(series)
        return series

    def append(self, labels: Labels, t_ms: int, value: float) -> bool:
        series = self.get_or_create(labels)
        # No pressure report here: t_ms is a sample's own time, which may lag "now"
        # (OCI data points); the next scrape or gc reports what this refused.
        if series is None or not series.append(t_ms, value):
            self.rejected_samples += 1
            return False
        return True

    def append_timestamped(self, samples: Iterable[Sample], now_ms: int, *, revisable: bool = False) -> int:
        """Write points that carry their own time, polled at ``now_ms``. With
        ``revisable`` (the source says its points may change after the fact) a point
        at a time already held replaces that value, and a late one is inserted in
        time order unless older than the retention. Returns the points stored."""
        if not revisable:
            return sum(self.append(s.labels, s.timestamp_ms, s.value) for s in samples)
        retention = self.limits.retention_ms
        oldest = None if retention is None else now_ms - retention
        done: list[Revision] = []
        for labels, t_ms, value in samples:
            series = self.get_or_create(labels)
            done.append(Revision.REFUSED if series is None else series.revise(t_ms, value, oldest))
        self.rejected_samples += done.count(Revision.REFUSED)
        self.revised_samples += done.count(Revision.REPLACED)
        self.inserted_samples += done.count(Revision.INSERTED)
        return len(done) - done.count(Revision.REFUSED) - done.count(Revision.UNCHANGED)

    def append_batch(
        self,
        source: str,
        samples: Iterable[tuple[Labels, float]],
        t_ms: int,
        *,
        cumulative: frozenset[str] = frozenset(),
        zero_at_ms: int | None = None,
    ) -> int:
        """Write one scrape of ``source`` at ``t_ms`` and mark series it no longer
        reports as stale, so an instant query stops seeing them at once instead of
        after the 5 minute lookback. Returns the number of samples stored.

        A new series whose name is in ``cumulative`` gets a zero at ``zero_at_ms``
        first (see :class:`~triaged.sources.base.Collected` and :meth:`_write_born`)."""
        self._latest_ms = max(self._latest_ms, t_ms)
        col = self._column(source, t_ms)
        boarding = not col.times  # a fresh column: every series can ride from its first point
        if zero_at_ms is not None and (boarding or zero_at_ms >= t_ms):
            zero_at_ms = None  # the clock stepped back: no earlier scrape to anchor to
        self._epoch += 1
        epoch = self._epoch
        reported: list[Series] = []
        stored = 0
        duplicates: list[Labels] = []
        born: list[tuple[Series, float]] = []  # new cumulative series, candidates for a zero
        lookup = self._series.get
        for labels, value in samples:
            series = lookup(labels)
            if series is None:
                series = self.get_or_create(labels, source)
                if series is None:
                    self.rejected_samples += 1
                    continue
                if zero_at_ms is not None and value >= 0 and labels.name in cumulative:
                    series.epoch = epoch
                    reported.append(series)
                    born.append((series, value))  # written below, once vanished series are known
                    continue
            if series.epoch == epoch:
                # A duplicate line in one scrape: the first wins and the rest are refused
                # and counted, as in Prometheus (sample_duplicate_timestamp).
                duplicates.append(labels)
                continue
            series.epoch = epoch
            reported.append(series)
            if series.column is col:
                put(series, value, t_ms)
                stored += 1
            elif boarding and not series.timestamps:
                col.board(series)
                put(series, value, t_ms)
                stored += 1
            elif series.append(t_ms, value):
                col.strays.add(series)
                stored += 1
            else:
                self.rejected_samples += 1
        if born and zero_at_ms is not None:
            stored += self._write_born(source, born, col, zero_at_ms=zero_at_ms, t_ms=t_ms)
        self._finish_scrape(source, col, reported, epoch, t_ms)
        if duplicates or source in self.duplicated:
            self._note_duplicates(source, duplicates)
        if self.pressure.asked:
            self._report_pressure(t_ms)
        return stored

    def _write_born(
        self,
        source: str,
        born: list[tuple[Series, float]],
        col: TimeColumn,
        *,
        zero_at_ms: int,
        t_ms: int,
    ) -> int:
        """The first points of new cumulative series, each after a zero at the previous
        scrape, unless a series of the same name vanished in this scrape: then a label
        value changed (an app that relabels its counters, a version label after a
        restart) and the running total it carries is no increase since the last scrape;
        nor when the series limit refused or evicted a series of that name lately: this
        one may have been exposed all along, and its total is no increase either."""
        replaced = {s.labels.name for s in self._last_seen.get(source, ()) if s.epoch != self._epoch}
        replaced.update(self._limited_names)
        for series, value in born:
            if series.labels.name not in replaced:
                series.append(zero_at_ms, 0.0)
                self.zeroed_series += 1
            series.append(t_ms, value)  # a new series takes any first point
            col.strays.add(series)
        return len(born)

    def _note_duplicates(self, source: str, duplicates: list[Labels]) -> None:
        """Count the samples refused as duplicates, and say once when a source starts
        reporting a series twice in one scrape (an exporter bug: which of the values
        is right cannot be known); forget it once a scrape has none."""
        self.rejected_samples += len(duplicates)
        if not duplicates:
            del self.duplicated[source]
        elif source not in self.duplicated:
            self.duplicated[source] = duplicates[0]
            log.warning(
                "scrape_duplicate_series",
                source=source,
                series=str(duplicates[0]),
                duplicates=len(duplicates),
            )

    def _column(self, source: str, t_ms: int) -> TimeColumn:
        col = self._columns.get(source)
        if col is None:
            col = self._columns[source] = TimeColumn()
        elif col.times and t_ms <= col.times[-1]:
            # The clock stepped back: riders cannot take this scrape's points, so they
            # fall back to their own times, which refuse the old samples one by one.
            for series in self._series.values():
                if series.column is col:
                    col.release(series)
            col = self._columns[source] = TimeColumn()
        return col

    def _finish_scrape(
        self, source: str, col: TimeColumn, reported: list[Series], epoch: int, t_ms: int
    ) -> None:
        """Staleness markers for series that vanished, then the column advances."""
        staled: list[Series] = []
        vanished = self._vanished
        for series in self._last_seen.get(source, ()):
            if series.epoch == epoch or self._series.get(series.labels) is not series:
                continue  # reported now, or dropped by gc meanwhile
            if series.column is col:
                put(series, STALE_NAN, t_ms)
                staled.append(series)
                vanished.append(series)
            elif series.append(t_ms, STALE_NAN):
                col.strays.add(series)
                vanished.append(series)
        for series in col.stale:
            # Stale last time, absent again: no point at this time, so off the column.
            if series.column is col and series.epoch != epoch:
                col.release(series)
        col.stale = staled
        col.times.append(t_ms)
        col.epoch = epoch
        self._last_seen[source] = reported
        if len(vanished) > 2 * self.limits.max_series:
            self._compact_vanished()  # series flapping faster than gc runs

    def mark_stale(self, source: str, seen: set[Labels], t_ms: int) -> None:
        """Mark every series ``source`` wrote last time and not in ``seen`` stale."""
        col = self._column(source, t_ms)
        self._epoch += 1
        reported = [s for s in map(self._series.get, seen) if s is not None]
        for series in reported:
            series.epoch = self._epoch
        self._finish_scrape(source, col, reported, self._epoch, t_ms)

    def forget_source(self, source: str, t_ms: int) -> None:
        """A target was removed from config: its series go stale now."""
        self.mark_stale(source, set(), t_ms)
        self._last_seen.pop(source, None)
        col = self._columns.pop(source, None)
        if col is not None:
            for series in self._series.values():
                if series.column is col:
                    col.release(series)

    # -- across a restart (triaged.tsdb.snapshot) --------------------------------------
    def reporters(self) -> dict[int, str]:
        """The source whose latest scrape reported each series, by the series' id()."""
        return {id(series): source for source, seen in self._last_seen.items() for series in seen}

    def adopt(self, source: str | None, labels: Labels) -> None:
        """A restored series that ``source`` reported last before the restart: its next
        scrape marks it stale if it no longer reports it. One that had vanished already
        (stale) is an eviction candidate again, as it was before the restart."""
        series = self._series.get(labels)
        if series is None:
            return
        if self._still_vanished(series):
            self._vanished.append(series)
        elif source is not None:
            self._last_seen.setdefault(source, []).append(series)

    def reporting_sources(self) -> list[str]:
        """The sources whose series are tracked for staleness."""
        return list(self._last_seen)

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
                return self._by_name.get(m.value, ())
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
        if self.pressure.asked:
            self._report_pressure(now_ms)  # what the last scrapes refused, if none since said so
        retention = self.limits.retention_ms
        if retention is None:
            self._compact_vanished()
            return 0
        cutoff = now_ms - retention
        if self._limited_names:
            self._limited_names = {n: t for n, t in self._limited_names.items() if t >= cutoff}
        columns = list(self._columns.values())
        for col in columns:
            col.cut = bisect.bisect_left(col.times, cutoff)
        dead: list[Labels] = []
        for labels, series in self._series.items():
            riding = series.column
            if riding is None:
                series.trim_before(cutoff)
            elif riding.cut:
                del series.values[: riding.cut]  # the shared times are cut once, below
            if not series.values:
                dead.append(labels)
        for col in columns:
            del col.times[: col.cut]
        if dead:
            self.generation += 1
            self._drop(dead)
        self._compact_vanished()
        self._board_strays()
        _trim_heap()
        return len(dead)

    def _drop(self, dead: list[Labels]) -> None:
        gone = {self._series.pop(labels) for labels in dead}
        for col in {s.column for s in gone if s.column is not None}:
            col.stale = [s for s in col.stale if s not in gone]
        for name in {labels.name for labels in dead}:
            kept = [s for s in self._by_name[name] if s not in gone]
            if kept:
                self._by_name[name] = kept
            else:
                del self._by_name[name]

    # -- the series limit ----------------------------------------------------------
    def _evict_vanished(self) -> bool:
        """Make room for a new series by dropping a batch of vanished ones, those gone
        longest first. False if there are none: every series held is still reported.

        A vanished series is invisible to instant queries already; only range functions
        over the last minutes still read it. Losing that is the lesser harm than a live
        target's first error series never existing."""
        batch = max(EVICT_MIN, self.limits.max_series // EVICT_SHARE)
        chosen: dict[Labels, Series] = {}
        vanished = self._vanished
        while vanished and len(chosen) < batch:
            series = vanished.popleft()
            if self._still_vanished(series):
                chosen[series.labels] = series
        if not chosen:
            return False
        self.generation += 1
        self._drop(list(chosen))
        for labels in chosen:
            self._limited_names[labels.name] = self._latest_ms
        self.evicted_series += len(chosen)
        self.pressure.evicted += len(chosen)
        return True

    def _still_vanished(self, series: Series) -> bool:
        values = series.values
        return self._series.get(series.labels) is series and len(values) > 0 and is_stale(values[-1])

    def _compact_vanished(self) -> None:
        """Forget entries for series that came back or were dropped, and repeats."""
        seen: set[int] = set()
        kept: deque[Series] = deque()
        for series in self._vanished:
            if id(series) not in seen and self._still_vanished(series):
                seen.add(id(series))
                kept.append(series)
        self._vanished = kept

    def _report_pressure(self, now_ms: int) -> None:
        if self.pressure.due(now_ms):
            log.warning(
                "tsdb_series_limit_reached",
                limit=self.limits.max_series,
                series=len(self._series),
                refused_total=self.rejected_series,
                evicted_total=self.evicted_series,
                **self.pressure.take(now_ms),
            )

    def _board_strays(self) -> None:
        """A series born after its source's first scrape gets its own times; once
        retention has cut the column back to that series' first point, the two
        are equal and it can ride. Only series the last scrape reported qualify:
        one marked stale then would miss the next point without leaving."""
        for col in self._columns.values():
            times = col.times
            for series in list(col.strays):
                ts = series.timestamps
                if series.column is not None or self._series.get(series.labels) is not series:
                    col.strays.discard(series)
                elif series.epoch == col.epoch and ts and times and ts[0] == times[0] and ts == times:
                    col.board(series)

    def clear(self) -> None:
        self.generation += 1
        self._series.clear()
        self._by_name.clear()
        self._last_seen.clear()
        self._columns.clear()
        self._vanished.clear()
        self._limited_names.clear()
