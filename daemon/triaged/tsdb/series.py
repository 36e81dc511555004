"""One series in memory: its values packed in a :class:`Floats` array, its times in a
list that may be a scrape source's shared :class:`TimeColumn`.

Values start as 4-byte C floats while every value is an integer a C float holds
exactly (counters, bucket counts, most gauges) and widen to doubles at the first
value that is not; :func:`put` does that and notes NaNs and decreases for `rate`.

Points are appended in time order and a duplicate or older timestamp is refused, as
in Prometheus, except through :meth:`Series.revise`: a source whose points may be
revised or arrive late (OCI Monitoring) replaces a stored value or inserts a
missing point there. Scrape series never take that path.
"""

from __future__ import annotations

import bisect
import enum
import struct
from array import array
from collections.abc import Iterable
from typing import SupportsIndex, overload

from triaged.model import Labels

# Integers up to 2**24 are exact in a C float; counters and bucket counts mostly are.
_F32_EXACT = float(2**24)
# array's own item access: Floats.__getitem__ is a Python function, too slow per point.
_item = array.__getitem__


class Floats(array):  # type: ignore[type-arg]
    """Sample values packed as C floats ("f") or doubles ("d"), read like a list of
    Python floats.

    A slice comes back as a ``list`` (not an array) so the PromQL engine, which
    compares and combines value slices as lists, sees exactly what it saw before;
    that is also why ``__getitem__`` deliberately departs from ``array``'s signature.
    A series starts narrow and :func:`put` widens it for good at the first value a
    C float cannot hold exactly (a fraction, a large count, any NaN), so every value
    reads back bit for bit, staleness markers included.
    """

    __slots__ = ()

    def __new__(cls, values: Iterable[float] = (), typecode: str = "d") -> Floats:
        return array.__new__(cls, typecode, values)

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

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):  # equal to the list of the same floats, as before
            return bool(self.tolist() == other)
        return bool(array.__eq__(self, other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # mutable, like array and list


class Series:
    """One series. ``timestamps`` may be a scrape source's shared :class:`TimeColumn`
    list (then ``column`` is set): read it freely, but only :class:`Storage` appends."""

    __slots__ = ("column", "dirty", "epoch", "labels", "timestamps", "values")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.timestamps: list[int] = []
        self.values: Floats = Floats((), "f")
        self.column: TimeColumn | None = None
        self.epoch = 0  # the last scrape (Storage-wide counter) that reported this series
        # Time of the newest point :func:`put` saw that is NaN or lower than the point
        # before it. A window that starts after it holds neither a NaN nor a counter
        # reset, so `rate` can read just its first and last value (promql.fastpath).
        self.dirty: int | None = None

    def append(self, t_ms: int, value: float) -> bool:
        """Add a point; out-of-order and duplicate timestamps are refused, as in
        Prometheus, so a clock step back never corrupts a series."""
        if self.column is not None:
            self.column.release(self)
        ts = self.timestamps
        if ts and t_ms <= ts[-1]:
            return False
        ts.append(t_ms)
        put(self, value, t_ms)
        return True

    def revise(self, t_ms: int, value: float, oldest_ms: int | None = None) -> Revision:
        """Add a point that may revise one held at ``t_ms`` or fill a gap before the
        newest, for sources whose points change after the fact (OCI Monitoring: a
        minute still being ingested, a bucket posted late). Points before
        ``oldest_ms`` (the retention cut) are refused, not revived.

        A series a scrape writes (riding a :class:`TimeColumn`, or given an epoch by
        one) keeps strict :meth:`append` semantics: its times may be shared with
        other series, and Prometheus never rewrites a scraped point."""
        ts = self.timestamps
        if not ts or t_ms > ts[-1]:
            self.append(t_ms, value)
            return Revision.APPENDED
        if self.column is not None or self.epoch or (oldest_ms is not None and t_ms < oldest_ms):
            return Revision.REFUSED  # a rider stays on its column: nothing changed
        i = bisect.bisect_left(ts, t_ms)  # < len(ts): t_ms <= ts[-1]
        if ts[i] == t_ms:
            if _PACK(self.values[i]) == _PACK(value):  # bit for bit: NaN kinds differ
                return Revision.UNCHANGED
            _place(self, i, value, insert=False)
            return Revision.REPLACED
        ts.insert(i, t_ms)
        _place(self, i, value, insert=True)
        return Revision.INSERTED

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
        if self.column is not None:
            self.column.release(self)
        cut = bisect.bisect_left(self.timestamps, t_ms)
        if cut:
            del self.timestamps[:cut]
            del self.values[:cut]
        return cut

    def __repr__(self) -> str:
        return f"Series({self.labels}, {len(self.timestamps)} points)"


def put(series: Series, value: float, t_ms: int) -> None:
    """Append ``value`` (the point at ``t_ms``) to the series' values, widening them to
    doubles if needed, and note NaNs and decreases in ``series.dirty``."""
    vs = series.values
    if value != value or (vs and value < _item(vs, -1)):  # noqa: PLR0124 - NaN
        series.dirty = t_ms
    if vs.typecode == "f" and not (
        value.__class__ is float and value.is_integer() and -_F32_EXACT <= value <= _F32_EXACT
    ):
        vs = series.values = Floats(vs.tolist(), "d")
    vs.append(value)


class Revision(enum.Enum):
    """What :meth:`Series.revise` did with a point."""

    APPENDED = "appended"
    REPLACED = "replaced"  # a new value for a time already held
    INSERTED = "inserted"  # a late point, older than the newest
    UNCHANGED = "unchanged"  # the value held already: a re-sent point
    REFUSED = "refused"


_PACK = struct.Struct("<d").pack


def _place(series: Series, i: int, value: float, *, insert: bool) -> None:
    """Put ``value`` at index ``i`` of the values (its time is ``timestamps[i]``):
    widen to doubles as :func:`put` would, and keep ``dirty`` conservative.

    Not in :func:`put`, which only appends and is the scrape hot path."""
    vs = series.values
    if vs.typecode == "f" and not (
        value.__class__ is float and value.is_integer() and -_F32_EXACT <= value <= _F32_EXACT
    ):
        vs = series.values = Floats(vs.tolist(), "d")
    if insert:
        vs.insert(i, value)
    else:
        vs[i] = value
    ts = series.timestamps
    # The point may now be lower than the one before it, or the next point lower than
    # it: `rate` must not take a window holding either pair for a clean counter. A
    # decrease that disappeared leaves `dirty` where it was: later than needed only
    # sends more windows down the slow path.
    newest = series.dirty
    if value != value or (i and value < _item(vs, i - 1)):  # noqa: PLR0124 - NaN
        newest = ts[i]
    if i + 1 < len(vs) and _item(vs, i + 1) < value:
        newest = ts[i + 1]
    if newest is not None and (series.dirty is None or newest > series.dirty):
        series.dirty = newest


class TimeColumn:
    """The scrape times of one source, shared by its *riders*: the series that have a
    point (a value or a staleness marker) at every one of those times. A scrape's
    samples all carry the scrape time, so a target's series normally ride from their
    first scrape on and a point costs 8 bytes (its value) instead of 16.

    A rider missing from a scrape leaves (gets its own copy of the times) before the
    column advances; a series born later rides once retention has trimmed the column
    to its first point (see :meth:`Storage.gc`).
    """

    __slots__ = ("cut", "epoch", "stale", "strays", "times")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.stale: list[Series] = []  # riders given a staleness marker by the last scrape
        self.strays: set[Series] = set()  # this source's series with their own times
        self.epoch = 0  # of the source's last scrape
        self.cut = 0

    def board(self, series: Series) -> None:
        series.timestamps = self.times
        series.column = self
        self.strays.discard(series)

    def release(self, series: Series) -> None:
        series.timestamps = self.times[: len(series.values)]
        series.column = None
