"""`triaged actions …`: action items that are specific, owned, dated and verified."""

from __future__ import annotations

import time
from typing import Any

import click

from triaged.cli.common import (
    actor_default,
    config_option,
    db_option,
    json_option,
    open_db,
    print_json,
    table,
    when,
)

PRIORITIES = ("high", "medium", "low")
TYPES = ("immediate", "short-term", "long-term", "process", "monitoring")


@click.group()
def actions() -> None:
    """Action items from incidents and postmortems."""


@actions.command("add")
@click.argument("incident_id", type=int)
@click.option("--title", required=True, help="What will change, where: specific enough to verify.")
@click.option("--owner", default=None, help="One person who drives it.")
@click.option("--due", default=None, help="YYYY-MM-DD (end of day, UTC) or a duration (7d, 2w).")
@click.option("--priority", default=None, help=f"{' | '.join(PRIORITIES)}.")
@click.option("--type", "kind", default=None, help=f"{' | '.join(TYPES)}.")
@click.option("--by", "actor", default=None, help="Who records it (default: $TRIAGED_USER or $USER).")
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
    """Add an action item to INCIDENT. Refused, with every reason, unless it is
    specific, owned, dated and prioritised."""
    from triaged.incidents.followup import ActionError, FollowUp, NewItem

    follow = FollowUp(open_db(db_path, config_path))
    try:
        item = follow.add(
            incident_id, NewItem(title, owner, due, priority, kind), actor or actor_default(), time.time()
        )
    except ActionError as exc:
        raise click.ClickException("action item refused:\n  - " + "\n  - ".join(exc.reasons)) from exc
    except LookupError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(
        f"action item #{item.id} added to incident #{incident_id}: {item.owner}, due {when(item.due_at)}"
    )


@actions.command("list")
@click.option("--overdue", is_flag=True, help="Only items past their due date.")
@click.option("--owner", default=None, help="Only this owner's items.")
@click.option("--incident", "incident_id", type=int, default=None, help="Only this incident's items.")
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
    from triaged.incidents.actions import UNFINISHED
    from triaged.store import actions as action_rows

    now = time.time()
    items = action_rows.list_items(
        open_db(db_path, config_path),
        incident_id=incident_id,
        owner=owner,
        statuses=None if show_all else UNFINISHED,
    )
    if overdue:
        items = [a for a in items if a.overdue(now)]
    if as_json:
        print_json([item_dict(a, now) for a in items])
        return
    if not items:
        click.echo("no action items")
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


def item_dict(a: Any, now: float) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(a)
    d["status"] = a.status.value
    d["overdue"] = a.overdue(now)
    return d


def _move(name: str, target: str, help_text: str) -> None:
    @actions.command(name, help=help_text)
    @click.argument("item_id", type=int)
    @click.option("--note", "-m", default="", help="A note (e.g. the PR, or how it was verified).")
    @click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
    @db_option
    @config_option()
    def cmd(item_id: int, note: str, actor: str | None, db_path: str | None, config_path: str | None) -> None:
        from triaged.incidents.actions import ActionStatus
        from triaged.incidents.followup import ActionError, FollowUp

        follow = FollowUp(open_db(db_path, config_path))
        try:
            item = follow.move(item_id, ActionStatus(target), actor or actor_default(), time.time(), note)
        except ActionError as exc:
            raise click.ClickException(str(exc)) from exc
        except LookupError as exc:
            raise click.ClickException(str(exc).strip("'\"")) from exc
        click.echo(f"action item #{item.id} is now {item.status}")


_move("start", "in_progress", "Work on the item has started.")
_move("done", "done", "The change is made; it still needs verifying (`actions verify`).")
_move("verify", "verified", "Confirm a done item did what it promised: only now is it closed.")
_move("drop", "dropped", "Decide not to do the item (say why with --note).")
