"""Silences: label matchers with a start, an end, an author and a reason.

A silence's state is computed from its timestamps (pending, active, expired), never
stored, so nothing can drift: an expired silence stops muting at its end even if the
daemon was down when the moment passed. Muted alerts are reported, never dropped.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from triaged.model import Matcher, MatchOp, Severity
from triaged.re2 import translate

if TYPE_CHECKING:
    from triaged.rules.alerting import Alert

# One matcher as Alertmanager reads it (pkg/labels/parse.go): name, operator, then the
# rest of the text as the value. Names may hold ':' there too, and `\s` is Go's ASCII
# whitespace. `\Z`, not `$`: `$` would also match before a final newline.
_WS = r"[ \t\n\f\r]*"
_MATCHER_RE = re.compile(rf"{_WS}([A-Za-z_:][A-Za-z0-9_:]*){_WS}(=~|!~|!=|=){_WS}(.*?){_WS}\Z", re.DOTALL)
_MATCHER_HINT = "use name=value, name!=value, name=~re or name!~re"


class MatcherError(ValueError):
    pass


def parse_matcher(text: str) -> Matcher:
    """``service="api"``, ``severity=~"P0|P1"``, ``env!=staging``. Severity aliases
    (``critical``) are normalised to P0–P3 so matchers agree with incident severities."""
    m = _MATCHER_RE.match(text)
    if m is None:
        raise MatcherError(f"bad matcher format: {text.strip()!r}: {_MATCHER_HINT}")
    name, op, raw = m.groups()
    value = _value(raw, text)
    if name == "severity" and op in ("=", "!=") and value:  # severity="" is "has no severity"
        try:
            value = Severity.parse(value).name
        except ValueError as exc:
            raise MatcherError(str(exc)) from exc
    try:
        if op in ("=~", "!~") and name == "severity":
            value = _severity_regex(value)
        return Matcher(name, MatchOp(op), value, dot_all=False)  # Alertmanager: `.` stops at \n
    except re.error as exc:
        raise MatcherError(f"invalid regex in {text.strip()!r}: {exc}") from exc


def parse_label(text: str) -> tuple[str, str]:
    """``name=value`` as ``amtool config routes test`` reads an alert's label: the value
    quoted or not, with the escapes of a matcher, and no severity alias applied."""
    m = _MATCHER_RE.match(text)
    if m is None or m.group(2) != "=":
        raise MatcherError(f"expected key=value, got {text.strip()!r}")
    return m.group(1), _value(m.group(3), text)


_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


def _value(raw: str, text: str) -> str:
    """A matcher's value as Alertmanager reads it, quoted or not: ``\\"``, ``\\\\`` and
    ``\\n`` are escapes; any other backslash is kept as written (so ``"a\\.b"`` is the
    regex ``a\\.b``). A double quote must be escaped unless it closes a quoted value:
    ``"prod`` or ``a"b`` is refused, not matched as the text with its quote in it."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(body):
        last = i == len(body) - 1
        if escaped:
            escaped = False
            out.append(_ESCAPES.get(ch, "\\" + ch))
        elif ch == "\\" and not last:
            escaped = True
        elif ch == '"' and quoted and last:
            quoted = False  # the closing quote
        elif ch == '"':
            raise MatcherError(f"matcher value contains unescaped double quote: {text.strip()!r}")
        else:
            out.append(ch)
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {text.strip()!r}")
    return "".join(out)


# Severity words rules written for Alertmanager use; each is an alias of one of P0–P3.
_SEVERITY_WORDS = {
    w: Severity.parse(w) for w in ("critical", "page", "error", "high", "warning", "warn", "info", "low")
}


def _severity_regex(pattern: str) -> str:
    """Every alert's ``severity`` is normalised to P0–P3 before matchers see it, so
    ``severity=~"critical|warning"`` copied from Alertmanager would never match. The
    regex also matches the severities whose names or aliases it matches; the pattern
    itself still applies as written (to an empty or unknown severity)."""
    compiled = re.compile(f"(?s:{translate(pattern)})")
    hits = {s for s in Severity if compiled.fullmatch(s.name) or compiled.fullmatch(s.name.lower())}
    hits |= {sev for word, sev in _SEVERITY_WORDS.items() if compiled.fullmatch(word)}
    extra = [s.name for s in sorted(hits) if not compiled.fullmatch(s.name)]
    return "|".join([*extra, f"(?:{pattern})"]) if extra else pattern


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Each text may hold several matchers, comma-separated and optionally in braces, as
    Alertmanager reads ``matchers:`` lines and ``amtool`` arguments:
    ``'{service="api", env!="dev"}'``. A comma inside quotes is part of the value."""
    return tuple(_parse_part(part, t) for t in texts for part in split_matchers(t))


def _parse_part(part: str, text: str) -> Matcher:
    # Checked in turn with the others, so the first mistake in a line is the one reported.
    if not part.strip():
        raise MatcherError(f"bad matcher format: an empty matcher between commas in {text!r}")
    return parse_matcher(part)


def split_matchers(text: str) -> list[str]:
    """``'{a="x,y", b=z}'`` → ``['a="x,y"', 'b=z']``, as Alertmanager splits a list: one
    leading ``{`` and one trailing ``}`` are dropped, each on its own; a trailing comma is
    ignored, and an empty text (or ``{}``) holds no matchers. An empty part between
    commas is returned as ``''`` (:func:`parse_matchers` refuses it).

    Unlike Alertmanager, a list in braces may have spaces around it: Alertmanager reads
    ``' {a="x"}'`` as a broken matcher and ``'{a="x"} '`` as the value ``"x"}``."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        body = stripped[1:-1]
    else:
        body = text.removeprefix("{").removesuffix("}")
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in body:
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        # As Alertmanager tracks it: a comma inside quotes leaves a pending escape.
        if ch == '"':
            quoted = quoted if escaped else not quoted
            escaped = False
        elif ch == "\\":
            escaped = not escaped
        elif ch != ",":
            escaped = False
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def equality_matchers(match: Mapping[str, str]) -> tuple[Matcher, ...]:
    """``match: {k: v}``: each value taken literally, quotes and backslashes included."""
    return tuple(parse_matcher(f'{_label_name(k)}="{_quote(v)}"') for k, v in sorted(match.items()))


def regex_matchers(match_re: Mapping[str, str]) -> tuple[Matcher, ...]:
    """Alertmanager's older ``match_re: {k: regex}``: one anchored ``=~`` per label."""
    return tuple(parse_matcher(f'{_label_name(k)}=~"{_quote(v)}"') for k, v in sorted(match_re.items()))


_LABEL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _label_name(name: str) -> str:
    """A ``match``/``match_re`` key must be a label name, as Alertmanager checks it: a
    matcher line may say ``a:b``, these maps may not."""
    if not _LABEL_NAME_RE.fullmatch(name):
        raise MatcherError(f"invalid label name {name!r} (letters, digits and _, not starting with a digit)")
    return name


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def alert_labels(alert: Alert) -> dict[str, str]:
    """An alert's labels with ``severity`` normalised, as every matcher sees them."""
    labels = alert.labels.as_dict()
    if "severity" in labels:
        with contextlib.suppress(ValueError):  # an unknown severity is matched as written
            labels["severity"] = Severity.parse(labels["severity"]).name
    return labels


@dataclass(frozen=True)
class Mute:
    """Why an alert is muted: kind (silence, maintenance, inhibit), which one, until when."""

    kind: str
    ref: str
    reason: str
    until: float | None = None


class Muter(Protocol):
    def mute(self, alert: Alert, labels: Mapping[str, str], now: float) -> Mute | None: ...


class SilenceState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    author: str
    reason: str
    created_at: float

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return SilenceState.PENDING
        if now < self.ends_at:
            return SilenceState.ACTIVE
        return SilenceState.EXPIRED

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    @property
    def matcher_text(self) -> str:
        return ",".join(str(m) for m in self.matchers)


def validate_silence_matchers(matchers: Sequence[Matcher]) -> None:
    """A silence must name something: one matcher that an empty label cannot satisfy.
    Otherwise a typo silences everything, which is how pages get lost for days."""
    if not matchers:
        raise MatcherError("a silence needs at least one matcher, e.g. service=bharatmart-api")
    if all(m.matches("") for m in matchers):
        raise MatcherError("at least one matcher must not match an empty label (it would silence everything)")


class Silencer:
    """Mutes alerts matched by an active silence; the one ending last wins the report."""

    def __init__(self, silences: Iterable[Silence]) -> None:
        self.silences = list(silences)

    def active_for(self, labels: Mapping[str, str], now: float) -> list[Silence]:
        """The silences muting ``labels`` at ``now``."""
        return [s for s in self.silences if s.state(now) is SilenceState.ACTIVE and s.matches(labels)]

    def mute(self, alert: Alert, labels: Mapping[str, str], now: float) -> Mute | None:
        hits = self.active_for(labels, now)
        if not hits:
            return None
        best = max(hits, key=lambda s: s.ends_at)
        return Mute(
            "silence", str(best.id), f"silence #{best.id} by {best.author}: {best.reason}", best.ends_at
        )
