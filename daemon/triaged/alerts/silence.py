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

# Matchers read like PromQL's: name, operator, optionally quoted value.
_MATCHER_RE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(.*?))\s*$')


class MatcherError(ValueError):
    pass


def parse_matcher(text: str) -> Matcher:
    """``service="api"``, ``severity=~"P0|P1"``, ``env!=staging``. Severity aliases
    (``critical``) are normalised to P0–P3 so matchers agree with incident severities."""
    m = _MATCHER_RE.match(text)
    if m is None:
        raise MatcherError(f"invalid matcher {text!r}: use name=value, name!=value, name=~re or name!~re")
    name, op, quoted, bare = m.groups()
    value = _unescape(quoted) if quoted is not None else bare
    if name == "severity" and op in ("=", "!=") and value:  # severity="" is "has no severity"
        try:
            value = Severity.parse(value).name
        except ValueError as exc:
            raise MatcherError(str(exc)) from exc
    try:
        if op in ("=~", "!~") and name == "severity":
            value = _severity_regex(value)
        return Matcher(name, MatchOp(op), value)
    except re.error as exc:
        raise MatcherError(f"invalid regex in {text!r}: {exc}") from exc


def _unescape(quoted: str) -> str:
    """A quoted value as Alertmanager reads it: ``\\"``, ``\\\\`` and ``\\n`` are
    escapes; any other backslash is kept as written (so ``"a\\.b"`` is the regex ``a\\.b``)."""
    return re.sub(r'\\(["\\n])', lambda e: "\n" if e.group(1) == "n" else e.group(1), quoted)


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
    return tuple(parse_matcher(part) for t in texts for part in split_matchers(t))


def split_matchers(text: str) -> list[str]:
    """``'{a="x,y", b=z}'`` → ``['a="x,y"', 'b=z']``; a trailing comma is ignored."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in body:
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if ch == '"' and not escaped:
            quoted = not quoted
        escaped = ch == "\\" and not escaped
        current.append(ch)
    parts.append("".join(current))
    found = [p.strip() for p in parts]
    if found and not found[-1]:
        found.pop()  # `a=b,` and `{a=b, }`
    if not found or not all(found):
        raise MatcherError(f"invalid matcher list {text!r}: an empty matcher between commas")
    return found


def equality_matchers(match: Mapping[str, str]) -> tuple[Matcher, ...]:
    """``match: {k: v}``: each value taken literally, quotes and backslashes included."""
    return tuple(parse_matcher(f'{k}="{_quote(v)}"') for k, v in sorted(match.items()))


def regex_matchers(match_re: Mapping[str, str]) -> tuple[Matcher, ...]:
    """Alertmanager's older ``match_re: {k: regex}``: one anchored ``=~`` per label."""
    return tuple(parse_matcher(f'{k}=~"{_quote(v)}"') for k, v in sorted(match_re.items()))


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
