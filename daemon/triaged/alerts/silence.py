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
from triaged.promql.regex import translate

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
    value = (quoted.replace('\\"', '"').replace("\\\\", "\\")) if quoted is not None else bare
    if name == "severity" and op in ("=", "!="):
        try:
            value = Severity.parse(value).name
        except ValueError as exc:
            raise MatcherError(str(exc)) from exc
    if op in ("=~", "!~"):
        # Users write Go RE2, as in PromQL: `(?i)` may sit mid-pattern there, not in `re`.
        value = translate(value)
    try:
        return Matcher(name, MatchOp(op), value)
    except re.error as exc:
        raise MatcherError(f"invalid regex in {text!r}: {exc}") from exc


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def equality_matchers(match: Mapping[str, str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(f'{k}="{v}"') for k, v in sorted(match.items()))


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
