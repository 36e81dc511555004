"""`triaged route …`: where would this alert go, and what would keep it quiet?"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from triaged.cli.common import config_option, db_option, json_option, print_json, resolve_db, table, when

if TYPE_CHECKING:  # the CLI imports lazily, for its start time
    from triaged.alerts.route import Destination
    from triaged.messages import Event
    from triaged.model import Severity

# The values of triaged.messages.Event (a test keeps them in step).
EVENTS = ("open", "escalate", "repage", "ack", "resolve", "reminder", "reopen", "heartbeat")


@click.group()
def route() -> None:
    """Test the routing tree; list flapping rules."""


@route.command("test")
@click.option("--labels", "labels_text", required=True, metavar="K=V,…",
              help="The alert's labels, e.g. severity=P1,service=bharatmart-api,team=payments.")  # fmt: skip
@click.option("--event", default="open", show_default=True, type=click.Choice(EVENTS),
              help="The notification to route.")  # fmt: skip
@config_option(required=True)
@db_option
@json_option
def test_cmd(labels_text: str, event: str, config_path: str, db_path: str | None, as_json: bool) -> None:
    """Show the receivers an alert with these labels reaches (route, timing, re-page
    interval) and what would mute it now: silences, maintenance windows, inhibition
    by alerts firing right now (silences and firing alerts need the daemon's --db)."""
    from triaged.app import build_router
    from triaged.config import load_config
    from triaged.errors import ConfigError
    from triaged.messages import Event
    from triaged.model import Severity

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    labels = _labels(labels_text)
    try:
        severity = Severity.parse(labels.get("severity", "P3"))
        kind = Event(event)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from exc
    labels["severity"] = severity.name
    dests = build_router(cfg).destinations(labels, severity, kind)
    mutes = _mutes(cfg, labels, db_path, config_path)
    repage = cfg.alerting.repage.get(severity)
    steps = [s for s in cfg.alerting.escalation_policy if severity in s.severities]
    if as_json:
        print_json({"labels": labels, "event": kind.value, "receivers": [d.__dict__ for d in dests],
                    "muted_by": mutes, "repage_s": repage,
                    "escalation": [{"after_s": s.after_s, "to": s.to} for s in steps]})  # fmt: skip
        return
    click.echo(f"{severity} {kind} with {', '.join(f'{k}={v}' for k, v in sorted(labels.items()))}")
    if not dests and kind is Event.REMINDER:
        click.echo("  goes NOWHERE: reminders go only to routes that name them (events: [reminder])")
    elif not dests:
        click.echo("  goes NOWHERE: no route matches (add a catch-all receiver at the root)")
    kinds = {n.name: n.type for n in cfg.notifiers}
    for d in dests:
        if kind is Event.REMINDER:
            click.echo(f"  → {d.receiver}  (route {d.path}; {_reminder_note(kinds.get(d.receiver, ''))})")
            continue
        # A route's repeat_interval, even 0 (off), overrides `repage:`, as in the re-pager.
        every = d.repeat_interval_s if d.repeat_interval_s is not None else repage
        click.echo(
            f"  → {d.receiver}  (route {d.path}; {_when_sent(kind, severity, d)};"
            f" updates every ≥{d.group_interval_s:.0f}s;"
            f" re-page {'every ' + _dur(every) + ' until acked' if every else 'off'})"
        )
    if kind in (Event.OPEN, Event.REOPEN):
        for step in steps:
            within = _dur(step.after_s)
            click.echo(f"  ⇢ {step.to}  (escalation policy: if nobody acknowledges within {within})")
    for why in mutes:
        click.echo(f"  MUTED by {why}")
    if not mutes:
        click.echo("  nothing would mute it now")


def _mutes(cfg: Any, labels: dict[str, str], db_path: str | None, config_path: str) -> list[str]:
    from pathlib import Path

    from triaged.alerts.inhibit import Inhibitor
    from triaged.alerts.silence import matches_all

    now = time.time()
    found = [
        f"maintenance window {w.name} (until {when(span[1])})"
        for w in cfg.alerting.maintenance
        if (span := w.active(now)) is not None and matches_all(w.matchers, labels)
    ]
    path = resolve_db(db_path, config_path)
    if not Path(path).exists():
        return found
    from triaged.cli.common import open_db  # never migrates under a running daemon
    from triaged.rules.alerting import AlertState
    from triaged.store import alert_state, silences

    store = open_db(path)
    for s in silences.current(store, now):
        if s.state(now) == "active" and s.matches(labels):
            found.append(f"silence #{s.id} by {s.author} until {when(s.ends_at)}: {s.reason}")
    firing = [
        a for alerts in alert_state.load(store).values() for a in alerts if a.state is AlertState.FIRING
    ]
    found.extend(Inhibitor(cfg.alerting.inhibit_rules, firing).would_inhibit(labels))
    store.close()
    return found


@route.command("flapping")
@click.option(
    "--since", default="24h", show_default=True, metavar="DURATION", help="How far back to look (1h, 7d)."
)
@db_option
@config_option()
@json_option
def flapping_cmd(since: str, db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Rules reported as flapping (firing, clearing and firing again) recently."""
    from triaged.cli.common import open_db
    from triaged.durations import parse_duration
    from triaged.store import notify_state

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    found = notify_state.flapping_rules(open_db(db_path, config_path), time.time() - window)
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo("no flapping rules")
        return
    click.echo(
        table(
            ("RULE", "LAST REPORTED", "INCIDENT", "DETAIL"),
            [(r["rule"], when(r["last_at"]), f"#{r['incident_id']}", r["message"]) for r in found],
        )
    )


def _when_sent(kind: Event, severity: Severity, dest: Destination) -> str:
    """When this event leaves for ``dest``, as the outbox schedules it
    (:mod:`triaged.incidents.notify`): P0/P1 pages at once, other opens after
    ``group_wait``, other updates at least ``group_interval`` after the previous one."""
    from triaged.incidents.notify import IMMEDIATE
    from triaged.messages import Event

    pages = {Event.OPEN, Event.ESCALATE, Event.REOPEN, Event.REPAGE}
    if kind in pages and severity in IMMEDIATE:
        return "first page now" if kind is Event.OPEN else "sent now"
    if kind is Event.OPEN:
        return f"first page after group_wait {dest.group_wait_s:.0f}s"
    if kind in pages:
        return f"sent ≥{dest.group_interval_s:.0f}s after the previous notification (group_interval)"
    return "sent now"


def _reminder_note(notifier_type: str) -> str:
    """Reminders are queued once a day and never re-paged; PagerDuty drops them."""
    if notifier_type == "pagerduty":
        return "NOT SENT: a PagerDuty receiver never gets reminders, they would page"
    return "once a day at actions.remind_at, never re-paged"


def _labels(text: str) -> dict[str, str]:
    """``k=v,…``, each as amtool reads a label: ``note="a, b"`` keeps its comma, and a
    quoted value may hold ``\\"``, ``\\\\`` and ``\\n``."""
    from triaged.alerts.silence import MatcherError, parse_label, split_matchers

    out: dict[str, str] = {}
    try:
        for part in filter(str.strip, split_matchers(text)):
            key, value = parse_label(part)
            out[key] = value
    except MatcherError as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from exc
    return out


def _dur(seconds: float) -> str:
    from triaged.durations import format_duration

    return format_duration(seconds)
