"""Parser for the Prometheus text exposition format 0.0.4.

Scrapes repeat the same series every few seconds, so the expensive part of a line —
the metric name and its ``{...}`` label block — is parsed once and cached by its raw
text (held as shared comma-separated fragments); afterwards a line costs a ``find``,
a ``split``, a dict lookup and a ``float()``. The cache stores the *final*
:class:`Labels` (after an optional relabel hook), so a scraper that adds
``job``/``instance`` pays for that once per series too.

Sample timestamps are validated and then ignored: every sample of a scrape is stamped
with the scrape time, as Prometheus does for targets without ``honor_timestamps``.
HELP and other comments are skipped; ``# TYPE`` lines are checked for a known type,
so a typo there is reported rather than silently accepted, and the parser remembers
which sample names are cumulative (:attr:`ExpositionParser.cumulative`: a counter's,
a histogram's buckets, count and sum, a summary's count and sum), which the tsdb needs
to start a counter that appears between two scrapes from zero.

A target that answers in OpenMetrics (``Content-Type: application/openmetrics-text``)
is read as Prometheus reads it: the body must end with ``# EOF``, timestamps are
seconds, exemplars are dropped and the OpenMetrics-only types are known. Such a body
is first rewritten, line for line, into the text format the fast path reads.
"""

from __future__ import annotations

import math
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
_OM_ONLY_TYPES = frozenset({"gaugehistogram", "info", "stateset", "unknown"})
# The sample names of a family that only ever go up from zero, by the family's type.
_CUMULATIVE_SUFFIXES = {
    "counter": ("", "_total"),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}
# An OpenMetrics line's name, up to its label block or the space before its value.
_OM_NAME_RE = re.compile(r"[^{\s]*")
_INT64_MAX = 2**63 - 1
# As Prometheus' text parser (textparse/promparse): only these three are unescaped;
# a backslash before anything else stays as written, so `path="C:\temp"` is the
# value `C:\temp`. Refusing it instead would fail the whole scrape (`up 0`, a false
# ServiceDown) over one label that Prometheus itself accepts.
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

DEFAULT_CACHE_SIZE = 262_144
_MAX_REASON = 200


class ExpositionError(ValueError):
    """Malformed exposition text; the message is one line naming the line number."""

    def __init__(self, line_no: int, reason: str) -> None:
        if len(reason) > _MAX_REASON:  # it quotes the payload, whose lines may be megabytes
            reason = reason[: _MAX_REASON - 1] + "…"
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
        self._last_count = 0  # samples in the last payload parsed whole
        # Sample names the last payload declared cumulative in its # TYPE lines.
        self.cumulative: frozenset[str] = frozenset()

    def parse(
        self, data: bytes | str, *, max_samples: int | None = None, openmetrics: bool = False
    ) -> list[tuple[Labels, float]]:
        """Parse a whole payload into ``(labels, value)`` pairs, in payload order;
        ``openmetrics``: the payload is OpenMetrics text, not the text format 0.0.4.

        Raises :class:`ExpositionError` on malformed input and
        :class:`SampleLimitError` once more than ``max_samples`` samples are seen.
        """
        text = _decode(data)
        if openmetrics:
            text = _openmetrics_as_text(text)
        # Crude but bounded: past 1.5 times what the target last exposed (plus some), the
        # cache holds mostly series it no longer has (a label that churns), so it is
        # emptied and what is still exposed is parsed anew. Not bounded by cache_size
        # alone, which for a churning target meant hundreds of MB of dead entries.
        if len(self._cache) > min(self._cache_size, self._last_count * 3 // 2 + 1024):
            self._cache.clear()
            self._fragments.clear()
            self._pairs.clear()
        cumulative: set[str] = set()
        with gc_paused():
            out = self._parse_lines(text, sys.maxsize if max_samples is None else max_samples, cumulative)
        self._last_count = len(out)
        if cumulative != self.cumulative:
            self.cumulative = frozenset(cumulative)
        return out

    def _parse_lines(self, text: str, limit: int, cumulative: set[str]) -> list[tuple[Labels, float]]:
        cache = self._cache
        # float() and int() also read non-ASCII digits (Arabic-Indic "\u0661" is 1); the format does not.
        # Checking the whole text once keeps that test off the usual, all-ASCII path.
        ascii_only = text.isascii()
        out: list[tuple[Labels, float]] = []
        append = out.append
        for line_no, raw in enumerate(text.split("\n"), 1):
            if not raw:
                continue
            line = raw
            first = line[0]
            if first == "#":
                _read_comment(line, line_no, cumulative)
                continue
            if first in " \t\r":
                line = line.strip()
                if not line:
                    continue
                if line[0] == "#":
                    _read_comment(line, line_no, cumulative)
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
            if not ascii_only and not rest.isascii():
                _refuse_non_ascii(rest, line_no)
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
    except UnicodeDecodeError:
        return _decode_line_by_line(data)


def _decode_line_by_line(data: bytes) -> str:
    """As Prometheus: invalid UTF-8 in an ordinary comment is no error (the comment is
    skipped anyway); anywhere else, a HELP text included, it is."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            words = line.split(None, 2)
            if not words or words[0] != b"#" or (len(words) > 1 and words[1] in (b"HELP", b"TYPE")):
                raise ExpositionError(i + 1, "invalid UTF-8") from None
            lines[i] = b"#"  # kept as a comment, so later lines keep their numbers
    return b"\n".join(lines).decode("utf-8")


def _read_comment(line: str, line_no: int, cumulative: set[str]) -> None:
    """Check a HELP or TYPE line; a cumulative type adds its sample names to ``cumulative``."""
    parts = line[1:].split(None, 3)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return  # an ordinary comment
    if not _METRIC_NAME_RE.fullmatch(parts[1]):
        raise ExpositionError(line_no, f"invalid metric name {parts[1]!r} in # {parts[0]}")
    if parts[0] == "TYPE":
        kind = parts[2] if len(parts) > 2 else ""
        if len(parts) != 3 or kind not in _TYPES:
            raise ExpositionError(line_no, f"invalid metric type {kind!r} for {parts[1]}")
        family = parts[1]
        for suffix in _CUMULATIVE_SUFFIXES.get(kind, ()):
            cumulative.add(family + suffix)


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
        raise ExpositionError(line_no, f"invalid value {text[:40]!r}") from None
    if value - value != 0.0 and text.lstrip("+-").lower() not in _SPECIAL_VALUES:
        # float() makes +Inf of "1e309"; Prometheus refuses the number, and a rule
        # such as `x > 100` must not fire on an overflow.
        raise ExpositionError(line_no, f"value out of range {text[:40]!r}")
    if len(fields) == 2:
        stamp = fields[1]
        # Milliseconds as a plain integer; int() would also take "+5", "1_000" and "-5".
        if not (stamp.isdigit() and stamp.isascii() and int(stamp) <= _INT64_MAX):
            raise ExpositionError(line_no, f"invalid timestamp {stamp[:40]!r}")
    return value


_SPECIAL_VALUES = frozenset({"inf", "infinity", "nan"})


def _refuse_non_ascii(rest: str, line_no: int) -> None:
    # Split as the format does (str.split() would also split at a no-break space).
    fields = [f for f in rest.replace("\t", " ").split(" ") if f]
    bad = next((f for f in fields if not f.isascii()), rest)
    what = "timestamp" if len(fields) > 1 and bad is fields[1] else "value"
    raise ExpositionError(line_no, f"invalid {what} {bad[:40]!r}")


def _openmetrics_as_text(text: str) -> str:
    """The text-format equivalent of an OpenMetrics payload, one line for one line (so
    errors name the right line): ``# EOF`` and what follows it dropped, exemplars and
    timestamps (seconds there, checked here) removed, OpenMetrics-only types made
    ``untyped``."""
    lines = text.split("\n")
    eof = next((i for i, line in enumerate(lines) if line.strip() == "# EOF"), None)
    if eof is None:
        # A body cut short (a wrong Content-Length, a proxy) looks exactly like this.
        last = len(lines) - 1 if len(lines) > 1 and not lines[-1] else len(lines)
        raise ExpositionError(last, "OpenMetrics text does not end with '# EOF'")
    for i in range(eof + 1, len(lines)):
        if lines[i].strip():
            raise ExpositionError(i + 1, "text after '# EOF'")
    for i in range(eof):
        line = lines[i]
        # Most lines are `name{labels} value`: one space, no exemplar, nothing to rewrite.
        if line.count(" ") != 1 or "#" in line or "\t" in line:
            lines[i] = _openmetrics_line(line.strip(), i + 1)
    return "\n".join(lines[:eof])


def _openmetrics_line(line: str, line_no: int) -> str:
    if not line:
        return line
    if line[0] == "#":
        words = line.split()
        if len(words) == 4 and words[1] == "TYPE" and words[3] in _OM_ONLY_TYPES:
            return f"# TYPE {words[2]} untyped"
        return line
    name = _OM_NAME_RE.match(line)
    end = name.end() if name else 0
    if end < len(line) and line[end] == "{":
        # Without an exemplar the last '}' closes the labels, as in the text format.
        end = _label_block_end(line, end) if "#" in line else line.rfind("}") + 1
        if end <= 0:
            return line  # the text parser says what is wrong with the labels
    key, rest = line[:end], line[end:]
    rest, hash_, exemplar = rest.partition("#")
    if hash_ and not exemplar.lstrip().startswith("{"):
        raise ExpositionError(line_no, f"invalid exemplar {exemplar.strip()[:40]!r}")
    fields = rest.split()
    if len(fields) == 2:
        stamp = fields.pop()
        try:
            seconds = float(stamp) if stamp.isascii() and "_" not in stamp else math.nan
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds):
            raise ExpositionError(line_no, f"invalid timestamp {stamp[:40]!r}")
    return f"{key} {' '.join(fields)}"


def _label_block_end(line: str, brace: int) -> int:
    """Index just past the ``}`` that closes the label block opened at ``brace``
    (quotes and escapes respected: an exemplar's braces follow it), or -1."""
    pos, end, quoted = brace + 1, len(line), False
    while pos < end:
        ch = line[pos]
        if quoted:
            if ch == "\\":
                pos += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "}":
            return pos + 1
        pos += 1
    return -1


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
