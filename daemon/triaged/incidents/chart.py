"""Charts of the triggering metric: an SVG file for the postmortem, a text chart for
the terminal. Written by hand so the daemon needs no plotting library."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr

Point = tuple[float, float | None]
Scale = Callable[[float], float]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
# A lifetime that on-call reopened by hand, with no alert firing: not "firing".
HAND_REOPEN = "reopened by hand"
MARKER_COLOURS = {
    "detected": "#d62728",
    "firing": "#ff7f0e",
    HAND_REOPEN: "#8c564b",
    "acknowledged": "#2ca02c",
    "mitigated": "#17becf",
    "resolved": "#1f77b4",
}


# XML 1.0 allows no C0 control but tab, newline and CR: one in a label (an ESC from an
# exporter) would make the whole chart unreadable. Shown as U+FFFD instead.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` as XML character data."""
    return _xml_escape(_XML_ILLEGAL.sub("\ufffd", text))


def attr(text: str) -> str:
    """``text`` as a quoted XML attribute value."""
    return quoteattr(_XML_ILLEGAL.sub("\ufffd", text))


@dataclass(frozen=True)
class ChartSeries:
    name: str
    points: Sequence[Point]


@dataclass(frozen=True)
class Marker:
    label: str  # detected, firing, reopened by hand, acknowledged, mitigated, resolved
    at: float


@dataclass(frozen=True)
class Chart:
    title: str
    series: Sequence[ChartSeries]
    markers: Sequence[Marker] = ()
    threshold: float | None = None
    width: int = 820
    height: int = 320
    margin: tuple[int, int, int, int] = field(default=(36, 24, 44, 64))  # top, right, bottom, left

    def bounds(self) -> tuple[float, float, float, float]:
        ts = [t for s in self.series for t, v in s.points if _finite(v)] + [m.at for m in self.markers]
        vs = [v for s in self.series for _, v in s.points if v is not None and _finite(v)]
        if self.threshold is not None:
            vs.append(self.threshold)
        t0, t1 = (min(ts), max(ts)) if ts else (0.0, 1.0)
        v0, v1 = (min(vs), max(vs)) if vs else (0.0, 1.0)
        v0 = min(v0, 0.0) if v0 >= 0 else v0  # non-negative metrics read best from zero
        if v1 == v0:
            v1 = v0 + (abs(v0) or 1.0)
        if t1 == t0:
            t1 = t0 + 1.0
        return t0, t1, v0, v1 + (v1 - v0) * 0.05


def _finite(v: float | None) -> bool:
    return v is not None and not math.isnan(v) and not math.isinf(v)


def _num(v: float) -> str:
    return f"{v:.4g}"


def _clock(t: float, dated: bool = False) -> str:
    return time.strftime("%b %d %H:%M:%S" if dated else "%H:%M:%S", time.gmtime(t))


def _spans_days(t0: float, t1: float) -> bool:
    """Whether a chart from ``t0`` to ``t1`` crosses a UTC midnight: its times then
    carry the date, or a 27-hour incident reads as 09:50 to 13:05."""
    return time.gmtime(t0)[:3] != time.gmtime(t1)[:3]


def render_svg(chart: Chart) -> str:
    top, right, bottom, left = chart.margin
    w, h = chart.width, chart.height
    pw, ph = w - left - right, h - top - bottom
    t0, t1, v0, v1 = chart.bounds()
    dated = _spans_days(t0, t1)

    def x(t: float) -> float:
        return round(left + (t - t0) / (t1 - t0) * pw, 1)

    def y(v: float) -> float:
        return round(top + ph - (v - v0) / (v1 - v0) * ph, 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"'
        ' font-family="sans-serif" font-size="11">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(chart.title)}</text>',
        f'<g class="axes" stroke="#999999">'
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/></g>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = v0 + (v1 - v0) * frac
        out.append(
            f'<text class="ytick" x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{_num(v)}</text>'
            f'<line x1="{left}" y1="{y(v)}" x2="{left + pw}" y2="{y(v)}" stroke="#eeeeee"/>'
        )
    for frac, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        t = t0 + (t1 - t0) * frac
        out.append(
            f'<text class="xtick" x="{x(t)}" y="{top + ph + 16}" text-anchor="{anchor}">'
            f"{_clock(t, dated)}</text>"
        )
    out.append(f'<text x="{left + pw}" y="{h - 6}" text-anchor="end" fill="#666666">time (UTC)</text>')
    if chart.threshold is not None:
        ty = y(chart.threshold)
        out.append(
            f'<line class="threshold" data-value={attr(_num(chart.threshold))} x1="{left}" y1="{ty}"'
            f' x2="{left + pw}" y2="{ty}" stroke="#d62728" stroke-dasharray="6 4"/>'
            f'<text x="{left + pw - 4}" y="{ty - 4}" text-anchor="end" fill="#d62728">'
            f"threshold {_num(chart.threshold)}</text>"
        )
    out.extend(_series_svg(chart, x, y))
    for m in sorted(chart.markers, key=lambda m: m.at):
        colour = MARKER_COLOURS.get(m.label, "#333333")
        mx = x(m.at)
        # Stagger the labels so markers close together stay readable.
        row = list(MARKER_COLOURS).index(m.label) if m.label in MARKER_COLOURS else 0
        flip = mx > left + pw * 0.8  # labels near the right edge grow leftwards
        out.append(
            f'<g class="marker" data-marker={attr(m.label)} data-t="{m.at:.3f}">'
            f'<line x1="{mx}" y1="{top}" x2="{mx}" y2="{top + ph}" stroke="{colour}" stroke-dasharray="3 3"/>'
            f'<text x="{mx - 3 if flip else mx + 3}" y="{top + ph - 6 - 12 * row}" fill="{colour}"'
            f' text-anchor="{"end" if flip else "start"}">{escape(m.label)} {_clock(m.at, dated)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _series_svg(chart: Chart, x: Scale, y: Scale) -> list[str]:
    out: list[str] = []
    top, _, _, left = chart.margin
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for t, v in s.points:
            if v is None or not _finite(v):
                segments.append([])  # a gap in the data is a gap in the line
                continue
            segments[-1].append(f"{x(t)},{y(v)}")
        for seg in (s for s in segments if s):
            out.append(
                f'<polyline class="series" data-name={attr(s.name)} fill="none" stroke="{colour}"'
                f' stroke-width="1.5" points="{" ".join(seg)}"/>'
            )
        if i < 6:  # a legend longer than six lines hides the chart
            lx = left + 8
            ly = top + 14 + 14 * i
            out.append(f'<text class="legend" x="{lx}" y="{ly}" fill="{colour}">{escape(s.name[:90])}</text>')
    return out


BLOCKS = " ▁▂▃▄▅▆▇█"


def severity_key(op: str | None, threshold: float | None) -> Callable[[float], float]:
    """A key that is largest for the value furthest into the alert's condition: the
    highest for ``>``, the lowest for ``<``, the one at the threshold for ``==``."""
    if op in ("<", "<="):
        return lambda v: -v
    if op in ("==", "!=") and threshold is not None:
        return (lambda v: -abs(v - threshold)) if op == "==" else (lambda v: abs(v - threshold))
    return lambda v: v


def render_text(
    points: Sequence[Point],
    markers: Sequence[Marker] = (),
    width: int = 60,
    worst: Callable[[float], float] = lambda v: v,
) -> list[str]:
    """A one-line block chart with a marker line under it: D detected, F firing,
    H reopened by hand, A acknowledged, M mitigated, R resolved. Each column shows its
    worst value by ``worst`` (see :func:`severity_key`; the highest by default): the
    highest of a column would hide a dip that a ``<`` or ``== 0`` rule fired on."""
    good = [(t, v) for t, v in points if v is not None and _finite(v)]
    if not good:
        return ["(no evidence recorded)"]
    t0, t1 = good[0][0], good[-1][0]
    for m in markers:
        t0, t1 = min(t0, m.at), max(t1, m.at)
    span = (t1 - t0) or 1.0
    cols: list[float | None] = [None] * width
    for t, v in good:
        i = min(width - 1, int((t - t0) / span * width))
        prev = cols[i]
        cols[i] = v if prev is None or worst(v) > worst(prev) else prev
    filled = [i for i, v in enumerate(cols) if v is not None]
    for i in range(filled[0], filled[-1]):  # sparse points: hold the last value across empty columns
        if cols[i + 1] is None:
            cols[i + 1] = cols[i]
    values = [v for v in cols if v is not None]
    lo, hi = min(values), max(values)
    scale = (hi - lo) or 1.0
    line = "".join(
        " " if v is None else BLOCKS[1 + round((v - lo) / scale * (len(BLOCKS) - 2))] for v in cols
    )
    marks = [" "] * width
    for m in markers:
        i = min(width - 1, int((m.at - t0) / span * width))
        marks[i] = "H" if m.label == HAND_REOPEN else m.label[:1].upper()  # R is resolved
    dated = _spans_days(t0, t1)
    start = f"{_clock(t0, dated)} UTC"
    return [
        f"{line}  max {_num(hi)}",
        f"{''.join(marks).rstrip():<{width}}  min {_num(lo)}",
        f"{start}{_clock(t1, dated):>{width - len(start)}} UTC",
    ]
