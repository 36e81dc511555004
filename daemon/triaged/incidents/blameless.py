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
_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b(human|operator|user|engineer|developer|manual) (error|mistake)s?\b", re.I),
        f"'human error' ends the inquiry: {_SYSTEMS}",
    ),
    (
        re.compile(r"\b[\w@.-]+ (should|could|would|ought to) have\b|\bshould'?ve\b", re.I),
        # Worded so that this advice, printed in a draft, does not match the rule itself.
        "hindsight: write what the person knew at the time, and what would make the right action easy",
    ),
    (
        re.compile(
            r"\b(careless(ness)?|negligen(t|ce)|incompeten(t|ce)|sloppy|lazy|stupid|reckless)\b", re.I
        ),
        "judges a person: state the action and the context instead",
    ),
    (
        re.compile(r"\b(to blame|blamed?|at fault|fault of|(his|her|their) fault)\b", re.I),
        "assigns blame: name the contributing factors, not the culprit",
    ),
    (
        re.compile(r"\b(forgot|forgotten|neglected to|didn'?t bother)\b", re.I),
        "frames a miss as a personal failing: ask why the system relied on remembering it",
    ),
]
_CAUSE = r"(caused by|because of|due to|broken by|triggered by|fault of)"
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def scan(text: str, people: Iterable[str] = ()) -> list[Finding]:
    """Findings per line, in order. ``people`` are names known to the incident
    (actors, assignee, owners): naming one as a cause is flagged too."""
    cleaned = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    names = [p for p in {p.strip() for p in people} if len(p) >= 2]
    person = re.compile(
        rf"\b{_CAUSE}\s+(@\w+|{'|'.join(re.escape(n) for n in names)})\b"
        if names
        else rf"\b{_CAUSE}\s+@\w+\b",
        re.I,
    )
    findings: list[Finding] = []
    for number, line in enumerate(cleaned.splitlines(), 1):
        for pattern, suggestion in _RULES:
            for m in pattern.finditer(line):
                findings.append(Finding(number, m.group(0), suggestion))
        for m in person.finditer(line):
            findings.append(Finding(number, m.group(0), "names a person as the cause: " + _SYSTEMS))
    return findings


def format_findings(findings: Iterable[Finding], where: str) -> list[str]:
    return [f"{where}:{f.line}: {f.phrase!r}: {f.suggestion}" for f in findings]
