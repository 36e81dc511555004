"""`triaged incidents …`: what the on-call reads and does at 3 a.m."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

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
    print_json,
    table,
    when,
)
from triaged.cli.incident_view import (
    LIMIT,
    ack_entry,
    ackers,
    already_text,
    cut_text,
    distinct_labels,
    echo_about,
    echo_chart,
    echo_lifetimes,
    echo_timeline,
    fields_line,
    incident_dict,
    incident_table,
    item_dict,
    moved_text,
    owner_text,
    short_num,
    terminal_width,
    wrap,
)
from triaged.cli.printable import one_line

if TYPE_CHECKING:
    from triaged.model import Severity

# `open` plus every IncidentStatus (a test keeps them in step; the enum is not imported
# here so that `triaged --help` stays fast).
STATUSES = (
    "open",
    "detected",
    "acknowledged",
    "investigating",
    "mitigated",
    "resolved",
    "postmortem",
    "closed",
)


@click.group()
def incidents() -> None:
    """List, inspect and act on incidents.

    \b
    Examples:
      triaged incidents list --status open     the ids to act on
      triaged incidents show 5                 alerts, chart, runbook, timeline
      triaged incidents ack 5 -m "on it"       stops re-paging
      triaged incidents note 5 "rolled back deploy 142"
      triaged incidents resolve 5 -m "rollback fixed it"

    The store is --db FILE, else $TRIAGED_DB, else the storage.db of --config."""


@incidents.command("list")
@db_option
@config_option()
@json_option
@click.option(
    "--status",
    "status",
    type=click.Choice(STATUSES, case_sensitive=False),
    default=None,
    help="Only incidents in this state; `open` means any state before resolved.",
)
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=LIMIT,
    help="Newest N incidents; open ones are listed even when older (not with --json).",
)
def list_cmd(
    db_path: str | None, config_path: str | None, as_json: bool, status: str | None, limit: int
) -> None:
    """Incidents, newest first: all of them, or --status open for those still open.
    Open incidents older than the newest --limit are listed too, and a last line says
    how many were left out. TTR is the time open (after a reopen, every lifetime, not
    the gaps between them). On a terminal the table fits its width and times are short
    (UTC); piped, it keeps full titles and times."""
    from triaged.store import incidents as rows

    store = open_db(db_path, config_path)
    wanted = status.lower() if status else None
    found = rows.list_incidents(store, status=wanted, limit=limit)
    if as_json:
        print_json([incident_dict(i) for i in found])
        return
    shown = {i.id for i in found}
    older_open = [
        i
        for i in reversed(rows.open_incidents(store))
        if i.id not in shown and wanted in (None, "open", str(i.status))
    ]
    if not found and not older_open:
        click.echo("no incidents")
        return
    listed = [*found, *older_open]
    click.echo(incident_table(listed, ackers(store, listed), terminal_width(), time.time()))
    total = _count(store, wanted) if len(found) >= limit else len(found)
    if total > len(listed):
        extra = f": the newest {len(found)} and {len(older_open)} older open" if older_open else ""
        click.echo(f"({len(listed)} of {total} shown{extra}; --limit {total} for all)")


def _count(store: Any, status: str | None) -> int:
    from triaged.store import incidents as rows

    return rows.count_incidents(store, status=status)


@incidents.command("show")
@click.argument("incident_id", type=ID)
@db_option
@config_option()
@json_option
def show_cmd(incident_id: int, db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """One incident: summary (title, description, runbook, times, earlier lifetimes
    after a reopen), alerts, a chart of the triggering metric, action items and the
    timeline. On a terminal long lines are wrapped to its width."""
    from triaged.store import incidents as rows

    store = open_db(db_path, config_path)
    inc = rows.get_incident(store, incident_id)
    if inc is None:
        raise click.ClickException(f"no incident #{incident_id}")
    from triaged.store import actions as action_rows
    from triaged.store import evidence as ev_rows

    alerts = rows.incident_alerts(store, incident_id)
    events = rows.timeline(store, incident_id)
    evidence = ev_rows.series_for(store, incident_id)
    items = action_rows.list_items(store, incident_id=incident_id)
    if as_json:
        print_json(
            {
                **incident_dict(inc),
                "alerts": alerts,
                "timeline": events,
                "evidence": evidence,
                "action_items": [item_dict(a) for a in items],
            }
        )
        return
    width = terminal_width()
    acked = ack_entry(inc, events)
    click.echo(f"Incident #{inc.id}  [{inc.severity.name}]  {inc.status}")
    click.echo(wrap("  ", one_line(inc.title), width))
    echo_about(inc, alerts, width)
    owner = owner_text(inc, acked["actor"] if acked else None)
    click.echo(
        fields_line(
            (
                f"service {inc.service or '-'}",
                f"group {inc.group_key}",
                f"rule {inc.rule}",
                f"assignee {owner}",
            ),
            width,
        )
    )
    click.echo(
        fields_line(
            (
                f"detected {when(inc.detected_at)}",
                f"opened {when(inc.opened_at)}",
                f"acknowledged {when(inc.acknowledged_at)}",
                f"resolved {when(inc.resolved_at)}",
            ),
            width,
        )
    )
    echo_lifetimes(inc)
    if inc.severity_set_by:
        click.echo(f"  severity set by hand by {inc.severity_set_by}")
    if inc.expr:
        click.echo(f"  expr: {' '.join(inc.expr.split())}")
    click.echo("\nAlerts:")
    click.echo(
        table(
            ("ALERT", "STATE", "VALUE", "WORST", "SINCE", "LABELS"),
            [
                (
                    a["alertname"],
                    # Not followed once the incident is resolved: "firing" would read as now.
                    "firing at resolve" if a["state"] == "firing" and not inc.is_open else a["state"],
                    short_num(a["value"]),
                    short_num(a["peak"]),
                    when(a["active_at"]),
                    distinct_labels(a["labels"]),
                )
                for a in alerts
            ],
        )
    )
    echo_chart(inc, evidence)
    if items:
        click.echo("\nAction items:")
        click.echo(
            table(
                ("ID", "STATUS", "PRIORITY", "OWNER", "DUE", "TITLE"),
                [(a.id, a.status, a.priority, a.owner, when(a.due_at), cut_text(a.title, 60)) for a in items],
            )
        )
    echo_timeline(events, width)


def _human(action: str, target: str, help_text: str) -> None:
    @incidents.command(action, help=help_text)
    @click.argument("incident_id", type=ID)
    @click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
    @click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
    @click.option(
        "--force",
        is_flag=True,
        hidden=target != "resolved",
        help="Resolve even though alerts still fire (they reopen it at the next evaluation).",
    )
    @db_option
    @config_option()
    def cmd(
        incident_id: int,
        reason: str,
        actor: str | None,
        force: bool,
        db_path: str | None,
        config_path: str | None,
    ) -> None:
        from triaged.incidents.human import AlreadyDoneError
        from triaged.incidents.model import IncidentStatus, TransitionError

        actions = _actions(db_path, config_path)
        before = _status_of(actions.store, incident_id)
        try:
            inc = actions.move(
                incident_id,
                IncidentStatus(target),
                actor or actor_default(),
                reason,
                time.time(),
                force=force,
            )
        except AlreadyDoneError as done:  # a second responder, or a retried command: fine
            click.echo(f"{already_text(actions.store, done.incident, target, time.time())}; nothing changed")
            return
        except (TransitionError, LookupError) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from exc
        click.echo(moved_text(inc))
        if _announced(before, target):
            click.echo(_delivery_note(actions.store.path))


_human("ack", "acknowledged", "Acknowledge: you are on it (stops re-paging).")
_human("investigate", "investigating", "Mark as being investigated.")
_human("mitigate", "mitigated", "Impact is mitigated; the cause may remain.")
_human(
    "resolve",
    "resolved",
    "Resolve by hand. Refused while its alerts still fire unsilenced (they would reopen"
    " it at once): let it resolve itself, silence them first, or pass --force.",
)
_human(
    "reopen",
    "detected",
    "Reopen a resolved incident: it is unacknowledged again, and stays open until resolved"
    " by hand, or until alerts that fire after the reopen have cleared.",
)


@incidents.command("close")
@click.argument("incident_id", type=ID)
@click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
@click.option(
    "--no-postmortem",
    is_flag=True,
    help="Close an incident that owes a postmortem (P0/P1 by default) without one; needs -m.",
)
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def close_cmd(
    incident_id: int,
    reason: str,
    no_postmortem: bool,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Close a resolved incident. One that owes a postmortem is closed by `postmortem
    complete`; closing it without one is refused unless --no-postmortem -m 'why', which
    is recorded on the timeline and stops the postmortem reminders."""
    from triaged.cli.postmortem import policy_from
    from triaged.incidents.human import AlreadyDoneError
    from triaged.incidents.model import TransitionError
    from triaged.incidents.postmortem_ops import PostmortemError, close

    store = open_db(db_path, config_path)
    try:
        inc = close(
            store,
            incident_id,
            actor=actor or actor_default(),
            reason=reason,
            now=time.time(),
            policy=policy_from(config_path),
            no_postmortem=no_postmortem,
        )
    except AlreadyDoneError as done:
        click.echo(f"{already_text(store, done.incident, 'closed', time.time())}; nothing changed")
        return
    except (PostmortemError, TransitionError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"incident #{inc.id} is now {inc.status}")


@incidents.command("assign")
@click.argument("incident_id", type=ID)
@click.argument("assignee")
@click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def assign_cmd(
    incident_id: int,
    assignee: str,
    reason: str,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Make ASSIGNEE the owner of the incident (incident commander)."""
    oncall = _oncall(db_path, config_path)
    try:
        inc = oncall.assign(incident_id, assignee, actor or actor_default(), reason, time.time())
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"incident #{inc.id} assigned to {inc.assignee}")


@incidents.command("severity")
@click.argument("incident_id", type=ID)
@click.argument("severity")
@click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def severity_cmd(
    incident_id: int,
    severity: str,
    reason: str,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Set the severity (P0..P3, or critical/error/warning/info). Raising it re-pages:
    the running daemon routes the escalation by the new severity."""
    from triaged.model import Severity

    try:
        sev = Severity.parse(severity)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SEVERITY") from exc
    oncall = _oncall(db_path, config_path)
    before = _severity_of(oncall.store, incident_id)
    try:
        inc = oncall.set_severity(incident_id, sev, actor or actor_default(), reason, time.time())
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"incident #{inc.id} is now {inc.severity}")
    if inc.is_open and before is not None and inc.severity < before:  # raised: announced as an escalation
        click.echo(_delivery_note(oncall.store.path))


@incidents.command("note")
@click.argument("incident_id", type=ID)
@click.argument("text", required=False)
@click.option("--message", "-m", "message", default=None, help="The note, instead of TEXT.")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def note_cmd(
    incident_id: int,
    text: str | None,
    message: str | None,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Add a note to the timeline: what you saw, tried or decided. Give it as TEXT or
    with -m, as the other incidents commands take theirs."""
    if text is not None and message is not None:
        raise click.UsageError("give the note as TEXT or with -m, not both")
    if text is None and message is None:
        raise click.UsageError(f"no note given: triaged incidents note {incident_id} -m 'what you saw'")
    text = text if text is not None else message or ""
    if not text.strip():
        raise click.ClickException("the note is empty: write what you saw, tried or decided")
    try:
        _actions(db_path, config_path).note(incident_id, actor or actor_default(), text, time.time())
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"note added to incident #{incident_id}")


def _status_of(store: Any, incident_id: int) -> str | None:
    from triaged.store import incidents as rows

    inc = rows.get_incident(store, incident_id)
    return None if inc is None else str(inc.status)


def _severity_of(store: Any, incident_id: int) -> Severity | None:
    """The incident's severity before a change (None: no such incident)."""
    from triaged.store import incidents as rows

    inc = rows.get_incident(store, incident_id)
    return None if inc is None else inc.severity


def _announced(before: str | None, target: str) -> bool:
    """Whether receivers hear of this move: an ack (or investigating/mitigating straight
    from detected, which acks), a resolve or a reopen."""
    return target in ("acknowledged", "resolved", "detected") or (
        before == "detected" and target in ("investigating", "mitigated")
    )


def _delivery_note(db_path: str) -> str:
    """Recorded with the change, for the daemon to route (with or without --config);
    its instance lock says whether one is running to do it now."""
    from triaged.service.instance import running

    pid = running(db_path)
    if pid is None:
        return "no daemon is running on this store: the receivers that were paged will be told when it starts"
    return f"the running daemon{f' (pid {pid})' if pid else ''} will tell the receivers that were paged"


def _actions(db_path: str | None, config_path: str | None) -> Any:
    from triaged.incidents.human import HumanActions

    # No router here, with or without --config: the change is recorded with an
    # announcement and the running daemon routes it with its own routing, so it reaches
    # exactly the receivers that were paged, once. --config only finds the store.
    return HumanActions(open_db(db_path, config_path), None)


def _oncall(db_path: str | None, config_path: str | None) -> Any:
    from triaged.incidents.oncall import OnCall

    return OnCall(open_db(db_path, config_path), None)  # the daemon announces, as above
