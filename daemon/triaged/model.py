"""Plain values shared by every layer: labels, samples, matchers, severities.

Timestamps inside the tsdb and the PromQL engine are integer milliseconds since the
Unix epoch, as in Prometheus; everything above works in float seconds (``now``).
"""

from __future__ import annotations

import enum
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from triaged.re2 import translate

METRIC_NAME = "__name__"

# Prometheus marks a series that vanished from a scrape with this exact NaN bit
# pattern. Ordinary NaN is a legitimate sample value, so the two must stay apart.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale(value: float) -> bool:
    """True only for the staleness marker, not for any other NaN."""
    return value != value and struct.pack("<d", value) == _STALE_BYTES  # noqa: PLR0124


_STALE_BYTES = struct.pack("<d", STALE_NAN)


class Labels(tuple[tuple[str, str], ...]):
    """An immutable, sorted, hashable label set.

    A tuple subclass so hashing and equality run at C speed: the tsdb keys millions of
    lookups on it. Build with :meth:`of` or :meth:`from_pairs`, never the raw constructor
    with unsorted input.
    """

    __slots__ = ()

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None = None, /, **kw: str) -> Labels:
        items = dict(mapping or {})
        items.update(kw)
        return cls.from_pairs(items.items())

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Labels:
        # Empty values mean "label absent" in Prometheus; dropping them keeps sets canonical.
        return cls(sorted((k, v) for k, v in pairs if v != ""))

    @property
    def name(self) -> str:
        return self.get(METRIC_NAME)

    def get(self, key: str, default: str = "") -> str:
        for k, v in self:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict[str, str]:
        return dict(self)

    def with_(self, **kw: str) -> Labels:
        d = dict(self)
        d.update(kw)
        return Labels.from_pairs(d.items())

    def without(self, *names: str) -> Labels:
        drop = set(names)
        return Labels(p for p in self if p[0] not in drop)

    def without_name(self) -> Labels:
        return Labels(p for p in self if p[0] != METRIC_NAME)

    def keep(self, *names: str) -> Labels:
        wanted = set(names)
        return Labels(p for p in self if p[0] in wanted)

    def __str__(self) -> str:
        name = self.name
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in self if k != METRIC_NAME)
        if name and not inner:
            return name
        return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Sample(NamedTuple):
    labels: Labels
    timestamp_ms: int
    value: float


class MatchOp(enum.Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher with Prometheus semantics: regexes are RE2 (``value`` keeps the
    user's text; :mod:`triaged.re2` rewrites it for ``re``), fully anchored, and a
    missing label matches as the empty string. In a regex `.` matches a newline too, as
    in PromQL selectors; Alertmanager's matchers (routes, silences, inhibit rules) say
    ``dot_all=False``, as Alertmanager compiles them."""

    name: str
    op: MatchOp
    value: str
    dot_all: bool = True
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op in (MatchOp.RE, MatchOp.NRE):
            flags = "s" if self.dot_all else ""
            object.__setattr__(self, "_regex", re.compile(f"(?{flags}:{translate(self.value)})"))

    def matches(self, value: str) -> bool:
        if self.op is MatchOp.EQ:
            return value == self.value
        if self.op is MatchOp.NE:
            return value != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(value) is not None
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op.value}"{_escape(self.value)}"'


class Severity(enum.IntEnum):
    """Incident severity; a lower number is worse, so ``min()`` picks the worst."""

    P0 = 0
    P1 = 1
    P2 = 2
    P3 = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        key = text.strip().lower()
        if key in _SEVERITY_ALIASES:
            return _SEVERITY_ALIASES[key]
        raise ValueError(f"unknown severity {text!r}: use P0-P3 or one of critical, error, warning, info")

    def __str__(self) -> str:
        return self.name


_SEVERITY_ALIASES: dict[str, Severity] = {
    "p0": Severity.P0,
    "critical": Severity.P0,
    "page": Severity.P0,
    "p1": Severity.P1,
    "error": Severity.P1,
    "high": Severity.P1,
    "p2": Severity.P2,
    "warning": Severity.P2,
    "warn": Severity.P2,
    "p3": Severity.P3,
    "info": Severity.P3,
    "low": Severity.P3,
}


def short_value(value: float) -> str:
    """Four significant digits, for text people read (timelines, pages)."""
    if math.isnan(value) or math.isinf(value):
        return format_value(value)
    return f"{value:.4g}"


def format_value(value: float) -> str:
    """Render a sample value the way Prometheus prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
