"""`triaged actions …`: action items that are specific, owned, dated and verified."""

from __future__ import annotations

import time
from typing import Any

import click

from triaged.cli.common import (
    BY_DEFAULT,
    ID,
    actor_default,
    by_given,
    config_option,
    db_option,
    json_option,
    open_db,
    parse_utc,
    print_json,
    table,
    when,
)

PRIORITIES = ("high", "medium", "low")
TYPES = ("immediate", "short-term", "long-term", "process", "monitoring")


@click.group()
def actions() -> None:
    """Action items from incidents and postmortems.

    \b
    Examples:
      triaged actions add 5 --title "Add DB_POOL_MAX to the startup config check" \\
          --owner asha --due 14d --priority high --type monitoring
      triaged actions list --overdue
      triaged actions done 7 -m "PR 1234"      then someone checks it: actions verify 7"""


def _normalise(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``High`` is high, ``short_term`` is short-term: the meaning is plain, so take it."""
    return None if value is None else value.strip().lower().replace("_", "-")


@actions.command("add")
@click.argument("incident_id", type=ID)
@click.option("--title", required=True, help="What will change, where: specific enough to verify.")
@click.option("--owner", default=None, help="One person who drives it.")
@click.option(
    "--due",
    default=None,
    help="YYYY-MM-DD (end of that day, UTC), YYYY-MM-DDTHH:MM (UTC, or add an offset: +05:30)"
    " or a duration (7d, 2w).",
)
@click.option("--priority", default=None, callback=_normalise, help=f"{' | '.join(PRIORITIES)} (any case).")
@click.option(
    "--type", "kind", default=None, callback=_normalise, help=f"{' | '.join(TYPES)} (any case; _ or -)."
)
@click.option(
    "--by", "actor", default=None, callback=by_given, help=f"Who records it (default: {BY_DEFAULT})."
)
@db_option
@config_option()
def add_cmd(
    incident_id: int,
    title: str,
    owner: str | None,
    due: str | None,
    priority: str | None,
    kind: str | None,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Add an action item to incident INCIDENT_ID. It is refused, with every reason
    at once, unless it is specific (--title), owned (--owner), dated (--due),
    prioritised (--priority) and typed (--type).

    \b
    Example:
      triaged actions add 5 --title "Add DB_POOL_MAX to the startup config check" \\
          --owner asha --due 14d --priority high --type monitoring
    """
    from triaged.incidents.actions import validate_new
    from triaged.incidents.followup import ActionError, FollowUp, NewItem

    now = time.time()
    due = _due_in_utc(due)
    bad_due = _due_problem(due)
    try:
        if bad_due:  # every other reason too, with a stand-in due date
            validate_new(title=title, owner=owner, due="1d", priority=priority, kind=kind, now=now)
            raise ActionError([bad_due])
        follow = FollowUp(open_db(db_path, config_path))
        item = follow.add(
            incident_id, NewItem(title, owner, due, priority, kind), actor or actor_default(), now
        )
    except ActionError as exc:
        reasons = [bad_due, *exc.reasons] if bad_due and bad_due not in exc.reasons else exc.reasons
        raise click.ClickException("action item refused:\n  - " + "\n  - ".join(reasons)) from exc
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(
        f"action item #{item.id} added to incident #{incident_id}: {item.owner}, due {when(item.due_at)}"
    )


def _due_in_utc(due: str | None) -> str | None:
    """A --due with an offset (``2026-12-01T02:00+05:30``), as every time typed on the
    command line may carry, as the UTC ``YYYY-MM-DDTHH:MM`` an item is dated with."""
    import re
    from datetime import UTC, datetime

    text = (due or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}\s*(Z|UTC|[+-]\d{2}:\d{2})", text):
        return due
    return datetime.fromtimestamp(parse_utc(text, "--due"), UTC).strftime("%Y-%m-%dT%H:%M")


def _due_problem(due: str | None) -> str | None:
    """A --due that looks like a date but is not one (2026-13-01), said plainly."""
    import re
    from datetime import datetime

    text = (due or "").strip()
    for pattern, fmt, form in (
        (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", "YYYY-MM-DD"),
        (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", "%Y-%m-%dT%H:%M", "YYYY-MM-DDTHH:MM"),
    ):
        if re.fullmatch(pattern, text):
            try:
                datetime.strptime(text.replace(" ", "T"), fmt)
            except ValueError:
                return f"--due: expected {form}, got {text!r}"
    return None


def _must_be_incident(store: Any, incident_id: int) -> None:
    """``--incident 55`` for #5 must not read as "it has no action items"."""
    from triaged.store import incidents as rows

    if rows.get_incident(store, incident_id) is None:
        raise click.ClickException(f"no incident #{incident_id}")


@actions.command("list")
@click.option("--overdue", is_flag=True, help="Only items past their due date.")
@click.option("--owner", default=None, help="Only this owner's items.")
@click.option("--incident", "incident_id", type=ID, default=None, help="Only this incident's items.")
@click.option("--all", "show_all", is_flag=True, help="Include verified and dropped items.")
@db_option
@config_option()
@json_option
def list_cmd(
    overdue: bool,
    owner: str | None,
    incident_id: int | None,
    show_all: bool,
    db_path: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Action items, soonest due first (open ones unless --all)."""
    from triaged.incidents.actions import UNFINISHED, normalise_owner
    from triaged.store import actions as action_rows

    now = time.time()
    store = open_db(db_path, config_path)
    if incident_id is not None:
        _must_be_incident(store, incident_id)
    items = action_rows.list_items(
        store,
        incident_id=incident_id,
        owner=normalise_owner(owner) if owner else None,
        statuses=None if show_all else UNFINISHED,
    )
    if overdue:
        items = [a for a in items if a.overdue(now)]
    if as_json:
        print_json([item_dict(a, now) for a in items])
        return
    if not items:
        click.echo(_nothing_listed(overdue=overdue, show_all=show_all, owner=owner, incident_id=incident_id))
        return
    click.echo(
        table(
            ("ID", "INCIDENT", "STATUS", "PRIORITY", "TYPE", "OWNER", "DUE", "TITLE"),
            [
                (
                    a.id,
                    f"#{a.incident_id}",
                    f"{a.status}" + (" OVERDUE" if a.overdue(now) else ""),
                    a.priority,
                    a.type,
                    a.owner,
                    when(a.due_at),
                    a.title if len(a.title) <= 60 else a.title[:59] + "…",
                )
                for a in items
            ],
        )
    )


def _nothing_listed(*, overdue: bool, show_all: bool, owner: str | None, incident_id: int | None) -> str:
    """Said plainly, with the filters that emptied the list: a team checking its
    follow-ups must not read "none" as "none ever", nor "no overdue items" (--overdue)
    as "no open items"."""
    kind = "overdue " if overdue else "" if show_all else "open "
    whose = f" owned by {owner}" if owner else ""
    where = f" on incident #{incident_id}" if incident_id is not None else ""
    hint = "" if show_all or overdue else " (--all shows verified and dropped ones)"
    return f"no {kind}action items{whose}{where}{hint}"


def item_dict(a: Any, now: float) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(a)
    d["status"] = a.status.value
    d["overdue"] = a.overdue(now)
    return d


def _move(name: str, target: str, help_text: str, note_help: str, *, needs_note: bool = False) -> None:
    @actions.command(name, help=help_text)
    @click.argument("item_id", type=ID)
    @click.option("--note", "-m", default="", help=note_help)
    @click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
    @db_option
    @config_option()
    def cmd(item_id: int, note: str, actor: str | None, db_path: str | None, config_path: str | None) -> None:
        from triaged.incidents.actions import ActionStatus

        if needs_note and not note.strip():
            raise click.UsageError(
                f"{name} needs -m: say why the item will not be done (kept on the incident's timeline)"
            )
        store = open_db(db_path, config_path)
        _apply(store, item_id, ActionStatus(target), actor or actor_default(), note.strip())


def _apply(store: Any, item_id: int, target: Any, actor: str, note: str, suffix: str = "") -> None:
    """Move the item and say so; a repeat changes nothing and is not an error."""
    from triaged.incidents.actions import AlreadyThereError, MoveRefusedError
    from triaged.incidents.followup import ActionError, FollowUp

    try:
        item = FollowUp(store).move(item_id, target, actor, time.time(), note)
    except AlreadyThereError as same:
        click.echo(f"{same}{_since(same.item)}; nothing changed")
        return
    except MoveRefusedError as refused:
        raise click.ClickException(_refusal(refused)) from refused
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"action item #{item.id} is now {item.status}{suffix}")


# The command that moves an item to each state.
_COMMANDS = {
    "in_progress": "start",
    "done": "done",
    "verified": "verify",
    "dropped": "drop",
    "open": "reopen",
}


def _refusal(refused: Any) -> str:
    """``action item #1 is open: only a done item can be verified (next: actions start 1, …)``"""
    item, target = refused.item, str(refused.target)
    if not refused.allowed:
        return f"action item #{item.id} is {item.status}: it is closed, nothing moves it now"
    why = {
        "verified": "only a done item can be verified",
        "open": "only a dropped item can be reopened",
    }.get(target, f"`actions {_COMMANDS[target]}` does not apply")
    steps = [
        f"actions {_COMMANDS[str(s)]} {item.id}" + (" -m why" if s in ("dropped", "open") else "")
        for s in refused.allowed
    ]
    return f"action item #{item.id} is {item.status}: {why} (next: {', '.join(steps)})"


def _since(item: Any) -> str:
    """`` (since 23:18:15 UTC, by carol)`` for the state an item is already in."""
    at = {
        "in_progress": item.started_at,
        "done": item.done_at,
        "verified": item.verified_at,
        "dropped": item.dropped_at,
    }.get(str(item.status))
    if at is None:
        return ""
    by = f", by {item.verified_by}" if str(item.status) == "verified" and item.verified_by else ""
    return f" (since {when(at)}{by})"


_move(
    "start",
    "in_progress",
    "Work on the item has started.",
    "A note for the timeline (e.g. the ticket or branch).",
)
_move(
    "done",
    "done",
    "The change is made; it still needs verifying (`actions verify`).",
    "What changed (e.g. the PR).",
)


@actions.command("verify")
@click.argument("item_id", type=ID)
@click.option("--failed", is_flag=True, help="It did not do what it promised: back to in_progress.")
@click.option(
    "--note", "-m", default="", help="How it was verified (with --failed: why it failed; required)."
)
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def verify_cmd(
    item_id: int, failed: bool, note: str, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """Confirm a done item did what it promised: only now is it closed. With --failed,
    it goes back to in_progress, with the reason on the incident's timeline."""
    from triaged.incidents.actions import ActionStatus
    from triaged.store import actions as action_rows

    store = open_db(db_path, config_path)
    target = ActionStatus.VERIFIED
    if failed:
        if not note.strip():
            raise click.ClickException("--failed needs --note/-m: say what the check found")
        item = action_rows.get(store, item_id)
        if item is not None and item.status is not ActionStatus.DONE:
            raise click.ClickException(
                f"action item #{item_id} is {item.status}: only a done item can fail verification"
            )
        target, note = ActionStatus.IN_PROGRESS, f"verification failed: {note.strip()}"
    suffix = " (verification failed)" if failed else ""
    _apply(store, item_id, target, actor or actor_default(), note, suffix)


_move(
    "drop",
    "dropped",
    "Decide not to do the item; -m says why (required, kept on the incident's timeline).",
    "Why it will not be done (required).",
    needs_note=True,
)
_move(
    "reopen",
    "open",
    "Take up a dropped item again; -m says why (required, kept on the incident's timeline).",
    "Why it will be done after all (required).",
    needs_note=True,
)


@actions.command("assign")
@click.argument("item_id", type=ID)
@click.argument("owner")
@click.option("--note", "-m", default="", help="Why (kept on the incident's timeline).")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def assign_cmd(
    item_id: int, owner: str, note: str, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """Hand an unfinished item to OWNER, one person (the owner moved on, or goes by
    another name now): reminders and `actions list --owner` follow the new name."""
    from triaged.incidents.actions import AlreadyThereError
    from triaged.incidents.followup import ActionError, FollowUp

    store = open_db(db_path, config_path)
    try:
        item = FollowUp(store).assign(item_id, owner, actor or actor_default(), time.time(), note.strip())
    except AlreadyThereError as same:
        click.echo(f"{same}; nothing changed")
        return
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"action item #{item.id} is now owned by {item.owner}")


@actions.command("due")
@click.argument("item_id", type=ID)
@click.argument("when_", metavar="WHEN")
@click.option("--note", "-m", default="", help="Why the date moves (required; kept on the timeline).")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def due_cmd(
    item_id: int, when_: str, note: str, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """Move an unfinished item's due date to WHEN, as --due of `actions add` takes it
    (YYYY-MM-DD, YYYY-MM-DDTHH:MM in UTC or with an offset, or 7d from now)."""
    from triaged.incidents.followup import ActionError, FollowUp

    if not note.strip():
        raise click.UsageError("due needs -m: say why the date moves (kept on the incident's timeline)")
    due = _due_in_utc(when_) or when_
    problem = _due_problem(due)
    if problem:
        raise click.ClickException(problem)
    try:
        item = FollowUp(open_db(db_path, config_path)).reschedule(
            item_id, due, actor or actor_default(), time.time(), note.strip()
        )
    except ActionError as exc:
        raise click.ClickException(str(exc)) from exc
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"action item #{item.id} is now due {when(item.due_at)}")
