"""Action items: specific, owned, dated, prioritised and tracked until verified.

An item is validated when it is created (the seed course's "specific, owned, dated,
prioritised, trackable"), then moves through one small table of allowed transitions.
Done is not closed: somebody has to verify that the change did what it promised.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from triaged.durations import parse_duration


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    VERIFIED = "verified"
    DROPPED = "dropped"


PRIORITIES = ("high", "medium", "low")
TYPES = ("immediate", "short-term", "long-term", "process", "monitoring")

A = ActionStatus
ACTION_ALLOWED: dict[ActionStatus, frozenset[ActionStatus]] = {
    A.OPEN: frozenset({A.IN_PROGRESS, A.DONE, A.DROPPED}),
    A.IN_PROGRESS: frozenset({A.DONE, A.DROPPED}),
    # Verification can fail: the item goes back to work instead of being closed.
    A.DONE: frozenset({A.VERIFIED, A.IN_PROGRESS, A.DROPPED}),
    A.VERIFIED: frozenset(),
    # A drop can be reconsidered (the incident came back, the reason no longer holds):
    # the item is taken up again with its history, not re-added as a stranger.
    A.DROPPED: frozenset({A.OPEN}),
}
CLOSED = frozenset({A.VERIFIED, A.DROPPED})
# Still owed: counted as open in reports, re-flagged when the incident recurs.
UNFINISHED = frozenset({A.OPEN, A.IN_PROGRESS, A.DONE})


class ActionError(ValueError):
    """An item was refused or a move is not allowed; ``reasons`` lists every problem."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class MoveRefusedError(ActionError):
    """A move the table does not allow; ``allowed`` are the states it can go to now."""

    def __init__(self, item: ActionItem, target: ActionStatus) -> None:
        self.item, self.target = item, target
        self.allowed = [s for s in NEXT_ORDER if s in ACTION_ALLOWED[item.status]]
        hint = " (mark it done first)" if target is A.VERIFIED else ""
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            [f"action item {item.id} is {item.status}; cannot move to {target}{hint} (allowed: {allowed})"]
        )


class AlreadyThereError(Exception):
    """The item is already in the state asked for: a repeated command, harmless, and
    nothing was changed (as for incidents)."""

    def __init__(self, item: ActionItem, state: str | None = None) -> None:
        super().__init__(f"action item #{item.id} is already {state or item.status}")
        self.item = item


# The order next steps are offered in: forward first, then back to work, then drop.
NEXT_ORDER = (A.VERIFIED, A.IN_PROGRESS, A.DONE, A.OPEN, A.DROPPED)


@dataclass
class ActionItem:
    id: int
    incident_id: int
    title: str
    owner: str
    due_at: float
    priority: str
    type: str
    status: ActionStatus
    created_at: float
    created_by: str
    updated_at: float
    started_at: float | None = None
    done_at: float | None = None
    verified_at: float | None = None
    verified_by: str | None = None
    dropped_at: float | None = None
    note: str = ""

    @property
    def closed(self) -> bool:
        return self.status in CLOSED

    def overdue(self, now: float) -> bool:
        # A done item waiting for verification is no longer the owner's to finish.
        return self.status in (A.OPEN, A.IN_PROGRESS) and self.due_at < now


# Owners that name no one person: a group, or a placeholder for a name.
_GROUP_OWNERS = {"team", "everyone", "all"}
_PLACEHOLDER_OWNERS = {"", "tbd", "todo", "someone", "somebody", "nobody", "?", "unknown"}
_VAGUE = [
    (re.compile(r"\bbe (more )?careful\b", re.I), "asks people to be careful instead of changing the system"),
    (
        re.compile(r"^\s*(look into|investigate|check|review|follow up( on)?)\b", re.I),
        "is an inquiry, not a change",
    ),
    (re.compile(r"^\s*fix (it|this|that|the (bug|issue|problem))\s*$", re.I), "does not say what to fix"),
    (re.compile(r"\b(tbd|todo|etc\.?|and so on|various|stuff|things)\b", re.I), "leaves the scope open"),
    (re.compile(r"\b(don'?t|never) let (this|it) happen again\b", re.I), "is a wish, not an action"),
    (
        re.compile(r"^\s*improve (monitoring|alerting|testing|docs|documentation|reliability)\s*$", re.I),
        "does not say which improvement",
    ),
]
MIN_TITLE_WORDS = 4


def title_problems(title: str) -> list[str]:
    text = " ".join(title.split())
    problems = []
    if len(text.split()) < MIN_TITLE_WORDS:
        problems.append(
            f"title {text!r} is not specific: use at least {MIN_TITLE_WORDS} words saying what will change"
            " and where (e.g. 'Add DB_POOL_MAX to the startup config check')"
        )
    for pattern, why in _VAGUE:
        if pattern.search(text):
            problems.append(
                f"title {text!r} {why}: say what will change, where, and how we will know it worked"
            )
            break
    return problems


# An item due further ahead is not dated in any useful sense; the bound also keeps every
# stored due time printable (a due in 10^13 days broke every later listing).
MAX_DUE_AHEAD_S = 10 * 365 * 86_400.0


def parse_due(text: str, now: float) -> float:
    """``2026-12-01``, ``2026-12-01T17:00`` (UTC) or a duration from now (``3d``, ``2w``).
    A date alone means the end of that day. At most ten years ahead."""
    due_at = _parse_due(text.strip(), now)
    if not due_at - now <= MAX_DUE_AHEAD_S:  # also refuses inf and nan
        raise ValueError(f"due {text.strip()!r} is more than 10 years ahead: pick a date someone can keep")
    return due_at


def _parse_due(text: str, now: float) -> float:
    if not text:
        raise ValueError("no due date")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return day.timestamp() + 86_399
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text):
        return datetime.strptime(text.replace(" ", "T"), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC).timestamp()
    try:
        return now + parse_duration(text)
    except ValueError:
        raise ValueError(f"due {text!r} is not a date (YYYY-MM-DD) or a duration (7d, 2w)") from None


def normalise_owner(owner: str) -> str:
    """One spelling per person: ``@asha`` (a chat handle) and ``asha`` are the same
    owner, so listings, reminders and the blameless check agree on who it is."""
    return owner.strip().removeprefix("@").strip()


def same_owner(a: str, b: str) -> bool:
    """Whether two spellings name one owner: ``Asha``, ``asha`` and ``@asha`` (items
    recorded before owners were normalised may still read ``@asha``)."""
    return normalise_owner(a).casefold() == normalise_owner(b).casefold()


def owner_problem(owner: str | None) -> str | None:
    """Why ``owner`` is not one named person (None if it is)."""
    who = normalise_owner(owner or "").lower()
    if owner is None or not who:
        return "an action item needs an owner: one person who will drive it (--owner)"
    if who in _GROUP_OWNERS | _PLACEHOLDER_OWNERS:
        what = "a group" if who in _GROUP_OWNERS else "a placeholder"
        return f"an action item needs an owner: {owner!r} is {what}, not one person (--owner asha)"
    return None


def future_due(due: str | None, now: float) -> float:
    """A due date that can still be kept: parsed, and not in the past."""
    if not due:
        raise ValueError("an action item needs a due date (--due 2026-12-01 or --due 7d)")
    due_at = parse_due(due, now)
    if due_at <= now:
        raise ValueError(f"due date {due!r} is in the past")
    return due_at


def validate_new(
    *, title: str, owner: str | None, due: str | None, priority: str | None, kind: str | None, now: float
) -> float:
    """Check a new item; returns the due time. Raises :class:`ActionError` with every reason."""
    reasons = title_problems(title)
    who = owner_problem(owner)
    if who:
        reasons.append(who)
    due_at = 0.0
    try:
        due_at = future_due(due, now)
    except ValueError as exc:
        reasons.append(str(exc))
    if priority not in PRIORITIES:
        got = f", not {priority!r}" if priority else " (--priority)"
        reasons.append(f"priority must be one of {', '.join(PRIORITIES)}{got}")
    if kind not in TYPES:
        got = f", not {kind!r}" if kind else " (--type)"
        reasons.append(f"type must be one of {', '.join(TYPES)}{got}")
    if reasons:
        raise ActionError(reasons)
    return due_at


def move(item: ActionItem, target: ActionStatus, now: float, actor: str) -> ActionItem:
    """Raises :class:`AlreadyThereError` for a repeat (nothing to do) and
    :class:`MoveRefusedError` for a move the table does not allow."""
    if target is item.status:
        raise AlreadyThereError(item)
    if target not in ACTION_ALLOWED[item.status]:
        raise MoveRefusedError(item, target)
    item.status = target
    item.updated_at = now
    if target is A.IN_PROGRESS:
        item.started_at = item.started_at or now
    elif target is A.DONE:
        item.done_at = now
    elif target is A.VERIFIED:
        item.verified_at, item.verified_by = now, actor
    elif target is A.DROPPED:
        item.dropped_at = now
    elif target is A.OPEN:
        item.dropped_at = None  # taken up again: the drop stays on the timeline
    return item
