"""The values a PromQL expression evaluates to.

They are deliberately plain: named tuples and list subclasses, so building a 100k
sample vector costs little more than building the tuples themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from triaged.model import Labels


class ExprError(Exception):
    """A PromQL expression could not be parsed or evaluated; the message is for humans."""


@dataclass(frozen=True, slots=True)
class Scalar:
    value: float


@dataclass(frozen=True, slots=True)
class String:
    value: str


class InstantSample(NamedTuple):
    labels: Labels
    value: float
    # The sample's own timestamp when it came straight from a selector; `timestamp()`
    # needs it, everything else evaluates at the query time.
    timestamp: int | None = None
    # Prometheus 3 removes __name__ only at the end of a query, so `label_replace`
    # can still read it and aggregations can still group by it.
    drop_name: bool = False


class Vector(list[InstantSample]):
    """An instant vector: at most one sample per label set."""


class RangeSeries(NamedTuple):
    labels: Labels
    points: list[tuple[int, float]]
    drop_name: bool = False


class Matrix(list[RangeSeries]):
    """A range vector, or the result of a range query."""


class Window(NamedTuple):
    """A range vector series as the engine passes it to functions: parallel lists,
    sliced straight out of the tsdb without building point tuples."""

    labels: Labels
    ts: list[int]
    vs: list[float]
    drop_name: bool = False


class RangeVector(list[Window]):
    """A range vector inside the engine, with the window it was selected over:
    `rate` extrapolates to these bounds, not to the first and last points."""

    def __init__(self, start: int, end: int, windows: list[Window] | None = None) -> None:
        super().__init__(windows or ())
        self.start = start
        self.end = end


Value = Scalar | String | Vector | Matrix
