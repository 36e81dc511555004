"""Parser for the Prometheus text exposition format 0.0.4.

Scrapes repeat the same series every few seconds, so the expensive part of a line —
the metric name and its ``{...}`` label block — is parsed once and cached by its raw
text (held as shared comma-separated fragments); afterwards a line costs a ``find``,
a ``split``, a dict lookup and a ``float()``. The cache stores the *final*
:class:`Labels` (after an optional relabel hook), so a scraper that adds
``job``/``instance`` pays for that once per series too.

Sample timestamps are validated and then ignored: every sample of a scrape is stamped
with the scrape time, as Prometheus does for targets without ``honor_timestamps``.
HELP/TYPE and other comments are skipped; only ``# TYPE`` lines are checked for a
known type, so a typo there is reported rather than silently accepted.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from triaged.gcpause import gc_paused
from triaged.model import METRIC_NAME, Labels

__all__ = ["ExpositionError", "ExpositionParser", "SampleLimitError", "parse_exposition"]

Relabel = Callable[[Labels], Labels]

_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.ASCII)
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
# A label block without escapes; anything else goes through the careful scanner,
# which also produces the error messages.
_PLAIN_BLOCK_RE = re.compile(
    r'(?:\s*[a-zA-Z_]\w*\s*=\s*"[^"\\]*"\s*,)*(?:\s*[a-zA-Z_]\w*\s*=\s*"[^"\\]*"\s*)?',
    re.ASCII,
)
_PLAIN_PAIR_RE = re.compile(r'([a-zA-Z_]\w*)\s*=\s*"([^"\\]*)"', re.ASCII)
_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
# As Prometheus' text parser (textparse/promparse): only these three are unescaped;
# a backslash before anything else stays as written, so `path="C:\temp"` is the
# value `C:\temp`. Refusing it instead would fail the whole scrape (`up 0`, a false
# ServiceDown) over one label that Prometheus itself accepts.
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

DEFAULT_CACHE_SIZE = 262_144


class ExpositionError(ValueError):
    """Malformed exposition text; the message is one line naming the line number."""

    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(f"line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


class SampleLimitError(ExpositionError):
    """The payload holds more samples than the caller allows."""


class _LineError(Exception):
    """Raised deep in label parsing; the caller adds the line number."""


class ExpositionParser:
    """A parser with its own label cache.

    Give each scrape target its own parser (bounded by what that target exposes) so
    one target with churning series cannot evict another's entries. ``relabel`` runs
    once per distinct series, on cache miss.
    """

    def __init__(self, *, relabel: Relabel | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._relabel = relabel
        self._cache_size = cache_size
        # Keyed by the raw key text, or for a key with labels by its comma-separated
        # fragments (one shared string each): ``name{le="1"``, ``route="/a"``, … That is
        # exact (joining them gives the text back) and costs a tuple of pointers per
        # series instead of ~150 bytes of text.
        self._cache: dict[str | tuple[str, ...], Labels] = {}
        self._fragments: dict[str, str] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

    def parse(self, data: bytes | str, *, max_samples: int | None = None) -> list[tuple[Labels, float]]:
        """Parse a whole payload into ``(labels, value)`` pairs, in payload order.

        Raises :class:`ExpositionError` on malformed input and
        :class:`SampleLimitError` once more than ``max_samples`` samples are seen.
        """
        text = _decode(data)
        if len(self._cache) > self._cache_size:
            # Crude but bounded: a target whose series churn refills it next scrape.
            self._cache.clear()
            self._fragments.clear()
            self._pairs.clear()
        with gc_paused():
            return self._parse_lines(text, sys.maxsize if max_samples is None else max_samples)

    def _parse_lines(self, text: str, limit: int) -> list[tuple[Labels, float]]:
        cache = self._cache
        out: list[tuple[Labels, float]] = []
        append = out.append
        for line_no, raw in enumerate(text.split("\n"), 1):
            if not raw:
                continue
            line = raw
            first = line[0]
            if first == "#":
                _check_comment(line, line_no)
                continue
            if first in " \t\r":
                line = line.strip()
                if not line:
                    continue
                if line[0] == "#":
                    _check_comment(line, line_no)
                    continue
            brace = line.find("{")
            if brace >= 0:
                # The value and timestamp never contain '}', so the last one closes
                # the label block even when a label value contains '}'.
                close = line.rfind("}")
                key = line[: close + 1] if close > brace else line
                rest = line[close + 1 :] if close > brace else ""
                entry: str | tuple[str, ...] = tuple(key.split(","))
            else:
                key, _, rest = line.partition(" ")
                if not rest and "\t" in key:
                    key, _, rest = line.partition("\t")
                entry = key
            labels = cache.get(entry)
            if labels is None:
                labels = self._parse_key(key, line_no)
                if entry is not key:
                    entry = tuple(map(self._fragments.setdefault, entry, entry))
                cache[entry] = labels
            value = _parse_value(rest, line_no)
            if len(out) >= limit:
                raise SampleLimitError(line_no, f"more than {limit} samples")
            append((labels, value))
        return out

    def _parse_key(self, key: str, line_no: int) -> Labels:
        try:
            labels = _parse_series(key, self._pairs)
        except _LineError as exc:
            raise ExpositionError(line_no, str(exc)) from None
        return self._relabel(labels) if self._relabel is not None else labels


_default_parser = ExpositionParser()


def parse_exposition(data: bytes | str, *, max_samples: int | None = None) -> list[tuple[Labels, float]]:
    """Parse Prometheus text format 0.0.4 with a shared, bounded label cache.

    The metric name becomes the ``__name__`` label; empty label values are dropped
    (Prometheus treats them as absent); sample timestamps are validated and ignored.
    """
    return _default_parser.parse(data, max_samples=max_samples)


# -- helpers ---------------------------------------------------------------------------


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise ExpositionError(line_no, "invalid UTF-8") from None


def _check_comment(line: str, line_no: int) -> None:
    parts = line[1:].split(None, 3)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return  # an ordinary comment
    if not _METRIC_NAME_RE.fullmatch(parts[1]):
        raise ExpositionError(line_no, f"invalid metric name {parts[1]!r} in # {parts[0]}")
    if parts[0] == "TYPE":
        kind = parts[2] if len(parts) > 2 else ""
        if len(parts) != 3 or kind not in _TYPES:
            raise ExpositionError(line_no, f"invalid metric type {kind!r} for {parts[1]}")


def _parse_value(rest: str, line_no: int) -> float:
    fields = rest.split()
    if not fields:
        raise ExpositionError(line_no, "expected a value after the metric")
    if len(fields) > 2:
        raise ExpositionError(line_no, f"unexpected text after the timestamp: {fields[2]!r}")
    text = fields[0]
    try:
        # float() also takes "1_000"; the format does not.
        if "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise ExpositionError(line_no, f"invalid value {text!r}") from None
    if len(fields) == 2:
        try:
            int(fields[1])
        except ValueError:
            raise ExpositionError(line_no, f"invalid timestamp {fields[1]!r}") from None
    return value


def _parse_series(key: str, canon: dict[tuple[str, str], tuple[str, str]]) -> Labels:
    """``name`` or ``name{a="b",...}`` → Labels with ``__name__``.

    ``canon`` maps each label pair to one shared instance, so thousands of series
    with ``app="sre-training-platform"`` hold one tuple, not thousands.
    """
    brace = key.find("{")
    name = (key if brace < 0 else key[:brace]).strip()
    if not _METRIC_NAME_RE.fullmatch(name):
        raise _LineError(f"invalid metric name {name!r}" if name else "missing metric name")
    pairs: list[tuple[str, str]] = [(METRIC_NAME, name)]
    if brace >= 0:
        if not key.endswith("}"):
            raise _LineError("missing '}' after the labels")
        block = key[brace + 1 : -1]
        if _PLAIN_BLOCK_RE.fullmatch(block):
            pairs += _PLAIN_PAIR_RE.findall(block)
        else:
            pairs += _scan_labels(block)
        if len({k for k, _ in pairs}) != len(pairs):
            raise _LineError(f'duplicate label name "{_first_duplicate(pairs)}"')
    shared = canon.setdefault
    return Labels(sorted([shared(p, p) for p in pairs if p[1]]))


def _first_duplicate(pairs: list[tuple[str, str]]) -> str:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            return k
        seen.add(k)
    return ""


def _scan_labels(block: str) -> list[tuple[str, str]]:
    """The careful path: escapes, and a precise message for anything malformed."""
    pairs: list[tuple[str, str]] = []
    pos, end = 0, len(block)
    while True:
        pos = _skip_blank(block, pos)
        if pos >= end:
            return pairs
        m = _LABEL_NAME_RE.match(block, pos)
        if m is None:
            raise _LineError(f"expected a label name, found {block[pos]!r}")
        name = m.group()
        pos = _skip_blank(block, m.end())
        if pos >= end or block[pos] != "=":
            raise _LineError(f"expected '=' after label name \"{name}\"")
        pos = _skip_blank(block, pos + 1)
        if pos >= end or block[pos] != '"':
            raise _LineError(f'expected \'"\' to start the value of label "{name}"')
        value, pos = _read_quoted(block, pos + 1, name)
        pairs.append((name, value))
        pos = _skip_blank(block, pos)
        if pos < end:
            if block[pos] != ",":
                raise _LineError(f"expected ',' or '}}' after the value of label \"{name}\"")
            pos += 1


def _read_quoted(block: str, pos: int, name: str) -> tuple[str, int]:
    """Read a label value from just after its opening quote to its closing quote."""
    parts: list[str] = []
    start, end = pos, len(block)
    while pos < end:
        ch = block[pos]
        if ch == '"':
            parts.append(block[start:pos])
            return "".join(parts), pos + 1
        if ch == "\\":
            # Any character may follow; only the known escapes are replaced. A trailing
            # backslash runs past the end and reports the value unterminated.
            replacement = _ESCAPES.get(block[pos + 1 : pos + 2])
            if replacement is not None:
                parts.append(block[start:pos])
                parts.append(replacement)
                start = pos + 2
            pos += 2
            continue
        pos += 1
    raise _LineError(f'unterminated value of label "{name}"')


def _skip_blank(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in " \t":
        pos += 1
    return pos
