"""Blameless review: find phrasing that blames people instead of describing systems.

The seed course asks for postmortems that explain which conditions made a mistake
possible. These checks flag the usual slips with a suggestion; they never rewrite the
text. HTML comments (where the draft keeps its own guidance) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    line: int
    phrase: str
    suggestion: str


_SYSTEMS = "describe the conditions that made it possible (missing check, unclear runbook, risky default)"
_HINDSIGHT = "hindsight: write what the person knew at the time, and what would make the right action easy"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b(human|operator|user|engineer|developer|manual) (error|mistake)s?\b", re.I),
        f"'human error' ends the inquiry: {_SYSTEMS}",
    ),
    (
        re.compile(
            r"\b(careless(ness)?|negligen(t|ce)|incompeten(t|ce)|sloppy|lazy|stupid|reckless)\b", re.I
        ),
        "judges a person: state the action and the context instead",
    ),
    (
        re.compile(
            r"\b(to blame|blamed?|at fault|fault of|(his|her|their|my|our|your) (fault|mistake|error))\b",
            re.I,
        ),
        "assigns blame: name the contributing factors, not the culprit",
    ),
    (
        # "It was asha's mistake": whose ever it was, a mistake or fault is blame.
        re.compile(r"(?<![\w@])[@\w.-]+['’]s\s+(fault|mistake|blunder|screw-?up)(?!\w)", re.I),
        "assigns blame: name the contributing factors, not the culprit",
    ),
    (
        re.compile(r"\b(forgot|forgotten|neglected to|didn'?t bother)\b", re.I),
        "frames a miss as a personal failing: ask why the system relied on remembering it",
    ),
]
# Hindsight ("X should have …") blames only when X is someone: "a canary deploy would
# have caught this" and "retries should have been capped" describe the system.
_PRONOUNS = ("i", "we", "you", "he", "she", "they", "someone", "somebody")
_HINDSIGHT_VERB = r"\s+(should|could|would|ought\s+to)(\s+have|'ve)"
_CAUSE = r"(caused by|because of|because|due to|broken by|triggered by|fault of)"
_BROKE = r"\s+(broke|caused|messed\s+up|screwed\s+up|botched)"
_POSSESSIVE = r"['’]s\s+error"  # a person's: "the parser's error" is the system's
# What the timeline calls actors that are not people: the daemon itself, and the CLI's
# fallback when it cannot tell who ran it.
NOT_PEOPLE = frozenset({"triaged", "unknown"})
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _person_rules(people: Iterable[str]) -> list[tuple[re.Pattern[str], str]]:
    """Rules that need a person: a known name (actor, assignee, owner) or an @handle,
    whole words only. Names are bounded by ``(?<!\\w)``/``(?!\\w)``, not ``\\b``,
    which fails beside a name ending in a mark or symbol (Devanagari vowel signs)."""
    names = sorted({p.strip() for p in people} - {""} - NOT_PEOPLE, key=len, reverse=True)
    who = "|".join([r"@\w+", *(re.escape(n) for n in names if len(n) >= 2)])
    person = rf"(?<![\w@])({who})(?!\w)"
    subject = rf"(?<![\w@])({who}|{'|'.join(_PRONOUNS)})(?!\w)"
    return [
        (re.compile(rf"{subject}{_HINDSIGHT_VERB}(?!\w)", re.I), _HINDSIGHT),
        (re.compile(rf"\b{_CAUSE}\s+{person}", re.I), "names a person as the cause: " + _SYSTEMS),
        (re.compile(rf"{person}{_BROKE}(?!\w)", re.I), "names a person as the cause: " + _SYSTEMS),
        (re.compile(rf"{person}{_POSSESSIVE}(?!\w)", re.I), "assigns blame: name the contributing factors"),
    ]


def scan(text: str, people: Iterable[str] = ()) -> list[Finding]:
    """Findings per line, in order. ``people`` are names known to the incident
    (actors, assignee, owners): naming one as a cause is flagged too."""
    cleaned = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    rules = [*_RULES, *_person_rules(people)]
    findings: list[Finding] = []
    for number, line in enumerate(cleaned.splitlines(), 1):
        found = sorted((m.start(), m.group(0), why) for pattern, why in rules for m in pattern.finditer(line))
        findings.extend(Finding(number, phrase, why) for _, phrase, why in found)
    return findings


def format_findings(findings: Iterable[Finding], where: str) -> list[str]:
    return [f"{where}:{f.line}: {f.phrase!r}: {f.suggestion}" for f in findings]
