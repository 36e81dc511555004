"""A tiny metric registry that renders exactly like BharatMart's prom-client.

prometheus-client would do the counting, but it orders labels alphabetically-ish and
appends ``_created`` series; the point of the simulator is to look like the real app,
so this renders prom-client's layout: default labels after a counter's own labels,
and ``le`` first, then the default labels, then the own labels, for histogram buckets.
Not thread-safe on its own; the owner holds a lock.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LabelValues = tuple[str, ...]


def format_number(value: float) -> str:
    """prom-client's rendering: integers without a fraction, floats as JS prints them."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _pairs(names: Sequence[str], values: Sequence[str]) -> list[str]:
    return [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]


@dataclass
class _Histo:
    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class Family:
    """One metric family. ``kind`` is ``counter``, ``gauge`` or ``histogram``."""

    name: str
    help: str
    kind: str
    label_names: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    _values: dict[LabelValues, float] = field(default_factory=dict)
    _histos: dict[LabelValues, _Histo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # prom-client shows an unlabelled counter or gauge at 0 from the start, while a
        # labelled one appears only once a label combination is first used.
        if not self.label_names and self.kind != "histogram":
            self._values[()] = 0.0

    def inc(self, values: LabelValues = (), amount: float = 1.0) -> None:
        self._values[values] = self._values.get(values, 0.0) + amount

    def set(self, values: LabelValues, value: float) -> None:
        self._values[values] = value

    def get(self, values: LabelValues = ()) -> float:
        return self._values.get(values, 0.0)

    def observe(self, values: LabelValues, value: float) -> None:
        histo = self._histos.get(values)
        if histo is None:
            histo = self._histos[values] = _Histo([0] * (len(self.buckets) + 1))
        # Buckets are upper bounds inclusive, so a value equal to a bound counts in it.
        histo.counts[bisect.bisect_left(self.buckets, value)] += 1
        histo.total += value
        histo.count += 1

    def render(self, defaults: Sequence[tuple[str, str]]) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        default_text = [f'{k}="{_escape(v)}"' for k, v in defaults]
        if self.kind == "histogram":
            for values, histo in self._histos.items():
                lines.extend(self._render_histo(values, histo, default_text))
        else:
            for values, value in self._values.items():
                inner = ",".join(_pairs(self.label_names, values) + default_text)
                lines.append(f"{self.name}{{{inner}}} {format_number(value)}")
        return lines

    def _render_histo(self, values: LabelValues, histo: _Histo, defaults: list[str]) -> list[str]:
        own = defaults + _pairs(self.label_names, values)
        tail = ",".join(own)
        out: list[str] = []
        cumulative = 0
        for bound, n in zip((*self.buckets, math.inf), histo.counts, strict=True):
            cumulative += n
            le = format_number(bound)
            out.append(f'{self.name}_bucket{{le="{le}",{tail}}} {cumulative}')
        out.append(f"{self.name}_sum{{{tail}}} {format_number(histo.total)}")
        out.append(f"{self.name}_count{{{tail}}} {histo.count}")
        return out

    def histogram_count(self, values: LabelValues) -> int:
        histo = self._histos.get(values)
        return 0 if histo is None else histo.count


def render(families: Sequence[Family], defaults: Sequence[tuple[str, str]]) -> str:
    """The whole exposition: families in order, a blank line between them."""
    blocks = ["\n".join(f.render(defaults)) for f in families]
    return "\n\n".join(blocks) + "\n"
