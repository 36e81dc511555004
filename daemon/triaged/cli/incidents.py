"""`triaged incidents …`: what the on-call reads and does at 3 a.m."""

from __future__ import annotations

import time
from typing import Any

import click

from triaged.cli.common import (
    COUNT,
    ID,
    actor_default,
    config_option,
    db_option,
    json_option,
    open_db,
    print_json,
    router_from,
    table,
    when,
)
from triaged.cli.incident_view import (
    cut_text,
    distinct_labels,
    echo_chart,
    echo_lifetimes,
    incident_dict,
    item_dict,
    short_num,
)

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
    """List, inspect and act on incidents."""


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
@click.option("--limit", default=50, show_default=True, type=COUNT, help="Newest N incidents.")
def list_cmd(
    db_path: str | None, config_path: str | None, as_json: bool, status: str | None, limit: int
) -> None:
    """Incidents, newest first: all of them, or --status open for those still open.
    TTR is the time open (after a reopen, every lifetime, not the gaps between them)."""
    from triaged.incidents.timing import durations, human
    from triaged.store import incidents as rows

    store = open_db(db_path, config_path)
    found = rows.list_incidents(store, status=status.lower() if status else None, limit=limit)
    if as_json:
        print_json([incident_dict(i) for i in found])
        return
    if not found:
        click.echo("no incidents")
        return
    click.echo(
        table(
            ("ID", "SEV", "STATUS", "OWNER", "TITLE", "DETECTED", "RESOLVED", "TTD", "TTR"),
            [
                (
                    i.id,
                    i.severity.name,
                    i.status,
                    i.assignee or "-",
                    cut_text(i.title, 60),
                    when(i.detected_at),
                    when(i.resolved_at),
                    human(t.detect),
                    human(t.resolve),
                )
                for i, t in ((i, durations(i)) for i in found)
            ],
        )
    )


@incidents.command("show")
@click.argument("incident_id", type=ID)
@db_option
@config_option()
@json_option
def show_cmd(incident_id: int, db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """One incident: summary, alerts and timeline."""
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
    click.echo(f"Incident #{inc.id}  [{inc.severity.name}]  {inc.status}")
    click.echo(f"  {inc.title}")
    click.echo(
        f"  service {inc.service or '-'}   group {inc.group_key}   rule {inc.rule}"
        f"   assignee {inc.assignee or '-'}"
    )
    click.echo(
        f"  detected {when(inc.detected_at)}   opened {when(inc.opened_at)}   "
        f"acknowledged {when(inc.acknowledged_at)}   resolved {when(inc.resolved_at)}"
    )
    echo_lifetimes(inc)
    if inc.severity_set_by:
        click.echo(f"  severity set by hand by {inc.severity_set_by}")
    if inc.expr:
        click.echo(f"  expr: {' '.join(inc.expr.split())}")
    click.echo("\nAlerts:")
    click.echo(
        table(
            ("ALERT", "STATE", "VALUE", "PEAK", "SINCE", "LABELS"),
            [
                (
                    a["alertname"],
                    a["state"],
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
    click.echo("\nTimeline:")
    for e in events:
        click.echo(f"  {when(e['at'])}  {e['kind']:<20} {e['actor']:<10} {e['message']}")


def _human(action: str, target: str, help_text: str) -> None:
    @incidents.command(action, help=help_text)
    @click.argument("incident_id", type=ID)
    @click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
    @click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
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
            click.echo(f"{done}; nothing changed")
            return
        except (TransitionError, LookupError) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from exc
        click.echo(f"incident #{inc.id} is now {inc.status}")
        if _announced(before, target):
            click.echo(_delivery_note(config_path))


_human("ack", "acknowledged", "Acknowledge: you are on it (stops re-paging).")
_human("investigate", "investigating", "Mark as being investigated.")
_human("mitigate", "mitigated", "Impact is mitigated; the cause may remain.")
_human(
    "resolve",
    "resolved",
    "Resolve by hand. Refused while its alerts still fire unsilenced (they would reopen"
    " it at once): let it resolve itself, silence them first, or pass --force.",
)
_human("reopen", "detected", "Reopen a resolved incident.")


@incidents.command("close")
@click.argument("incident_id", type=ID)
@click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
@click.option(
    "--no-postmortem",
    is_flag=True,
    help="Close an incident that owes a postmortem (P0/P1 by default) without one; needs -m.",
)
@click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
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
        click.echo(f"{done}; nothing changed")
        return
    except (PostmortemError, TransitionError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"incident #{inc.id} is now {inc.status}")


@incidents.command("assign")
@click.argument("incident_id", type=ID)
@click.argument("assignee")
@click.option("--reason", "-m", default="", help="Why (recorded on the timeline).")
@click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
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
@click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
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
    """Set the severity (P0..P3, or critical/error/warning/info). Raising it re-pages
    the receivers routed for the new severity (with --config)."""
    from triaged.model import Severity

    try:
        sev = Severity.parse(severity)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SEVERITY") from exc
    try:
        inc = _oncall(db_path, config_path).set_severity(
            incident_id, sev, actor or actor_default(), reason, time.time()
        )
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    click.echo(f"incident #{inc.id} is now {inc.severity}")


@incidents.command("note")
@click.argument("incident_id", type=ID)
@click.argument("text")
@click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
@db_option
@config_option()
def note_cmd(
    incident_id: int, text: str, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """Add a note to the timeline: what you saw, tried or decided."""
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


def _announced(before: str | None, target: str) -> bool:
    """Whether receivers hear of this move: an ack (or investigating/mitigating straight
    from detected, which acks), a resolve or a reopen."""
    return target in ("acknowledged", "resolved", "detected") or (
        before == "detected" and target in ("investigating", "mitigated")
    )


def _delivery_note(config_path: str | None) -> str:
    if config_path:
        return "recorded and queued for the routed receivers: the running daemon delivers it"
    return "recorded only: without --config (or $TRIAGED_CONFIG) the receivers were not told"


def _actions(db_path: str | None, config_path: str | None) -> Any:
    from triaged.incidents.human import HumanActions

    return HumanActions(open_db(db_path, config_path), router_from(config_path))


def _oncall(db_path: str | None, config_path: str | None) -> Any:
    from triaged.incidents.oncall import OnCall

    return OnCall(open_db(db_path, config_path), router_from(config_path))
