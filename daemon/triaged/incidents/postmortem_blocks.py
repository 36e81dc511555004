"""The parts of a postmortem draft that people write, kept across a re-draft.

A draft is re-drafted with ``--force`` to pull in what happened since (a reopen, new
action items). Its generated parts should then change; what people wrote (the summary
in their words, the root cause analysis, the lessons) must not be lost. Each such part
is a *block* between two HTML comments, invisible once rendered::

    <!-- begin: root cause (a re-draft keeps what is written between begin and end) -->
    ...the template's prompts, then the team's text...
    <!-- end: root cause, drafted as 1a2b3c4d -->

The end marker holds a short hash of the block as drafted. On a re-draft, a block
whose text no longer matches its hash was edited, and replaces the new draft's block;
an untouched one is drafted afresh (its prompts may name new times). A block whose
markers were deleted cannot be told apart from the rest and is drafted afresh: the
``.bak`` copy still has it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

_BEGIN = re.compile(r"^<!-- begin: (?P<name>[a-z ]+) \(")
_END = re.compile(r"^<!-- end: (?P<name>[a-z ]+), drafted as (?P<digest>[0-9a-f]{8}) -->$")


def block(name: str, lines: Sequence[str]) -> list[str]:
    """``lines`` as a block named ``name``, with its markers."""
    return [
        f"<!-- begin: {name} (a re-draft keeps what is written between begin and end) -->",
        *lines,
        _end(name, _digest(lines)),
    ]


def _end(name: str, digest: str) -> str:
    return f"<!-- end: {name}, drafted as {digest} -->"


def carry_over(old: str, new: str) -> tuple[str, list[str]]:
    """``new`` with each block that was edited in ``old`` put back as it was written.
    Returns the merged text and the names of the blocks kept."""
    edited = {
        name: (body, digest) for name, (body, digest) in _blocks(old).items() if _digest(body) != digest
    }
    out: list[str] = []
    kept: list[str] = []
    lines = new.split("\n")
    i = 0
    while i < len(lines):
        begin = _BEGIN.match(lines[i])
        end = _find_end(lines, i + 1, begin.group("name")) if begin else None
        if begin is None or end is None or begin.group("name") not in edited:
            out.append(lines[i])
            i += 1
            continue
        name = begin.group("name")
        body, digest = edited[name]
        # With the digest it was first drafted with, so it still reads as edited and
        # every later re-draft keeps it too.
        out += [lines[i], *body, _end(name, digest)]
        kept.append(name)
        i = end + 1
    return "\n".join(out), kept


def unwritten(text: str) -> list[str]:
    """The blocks of ``text`` still exactly as drafted: prompts nobody has answered."""
    return [name for name, (body, digest) in _blocks(text).items() if _digest(body) == digest]


def nothing_written(text: str) -> bool:
    """Every block of ``text`` is still as drafted: nobody has written the postmortem."""
    blocks = _blocks(text)
    return bool(blocks) and all(_digest(body) == digest for body, digest in blocks.values())


def _blocks(text: str) -> dict[str, tuple[list[str], str]]:
    """Each complete block of ``text``: name → (its lines, the digest it was drafted with)."""
    lines = text.split("\n")
    found: dict[str, tuple[list[str], str]] = {}
    for i, line in enumerate(lines):
        begin = _BEGIN.match(line)
        if begin is None:
            continue
        end = _find_end(lines, i + 1, begin.group("name"))
        if end is not None:
            digest = _END.match(lines[end])
            assert digest is not None  # _find_end matched it
            found[begin.group("name")] = (lines[i + 1 : end], digest.group("digest"))
    return found


def _find_end(lines: Sequence[str], start: int, name: str) -> int | None:
    for j in range(start, len(lines)):
        end = _END.match(lines[j])
        if end is not None and end.group("name") == name:
            return j
        if _BEGIN.match(lines[j]):
            return None  # another block begins first: this one lost its end marker
    return None


def _digest(lines: Sequence[str]) -> str:
    # Trailing spaces and blank lines are not edits (editors strip them).
    text = "\n".join(line.rstrip() for line in lines).strip("\n")
    return hashlib.sha256(text.encode()).hexdigest()[:8]
