"""`triaged silence …`: mute alerts on purpose, for a while, with a name and a reason."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from triaged.cli.common import (
    BY_DEFAULT,
    ID,
    actor_default,
    by_given,
    config_option,
    config_or_defaults,
    db_option,
    json_option,
    open_db,
    parse_utc,
    print_json,
    table,
    when,
)

DEFAULT_MAX_S = 7 * 86400.0
DEFAULT_SOON_S = 3600.0


@click.group()
def silence() -> None:
    """Add, list and expire silences; see what they muted.

    \b
    Examples:
      triaged silence add service=bharatmart-api --for 2h --reason "DB migration"
      triaged silence add alertname=HighP95Latency 'env=~"staging|dev"' --for 30m --reason "load test"
      triaged silence list               active, pending, expiring soon and recently expired
      triaged silence expire 3           end silence #3 now
      triaged silence muted              alerts that fired while muted
    """


# `triaged silence add HighP95Latency service=api`: amtool's shorthand for the alert name.
_BARE_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", metavar="DURATION", help="How long, e.g. 2h, 30m. Required (or --until).")
@click.option(
    "--until", "until", metavar="TIME", help="End time: 'YYYY-MM-DD HH:MM' UTC (or add an offset, +05:30)."
)
@click.option(
    "--start", "start", metavar="TIME", help="Start later: 'YYYY-MM-DD HH:MM' UTC (or add an offset)."
)
@click.option("--reason", "-m", required=True, help="Why (shown to whoever wonders why nothing paged).")
@click.option("--by", "author", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
@json_option
def add_cmd(
    matchers: tuple[str, ...],
    duration: str | None,
    until: str | None,
    start: str | None,
    reason: str,
    author: str | None,
    db_path: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Silence alerts matching every MATCHER (name=value, name!=value, name=~regex,
    name!~regex). A first MATCHER that is a bare name means alertname=NAME, as with
    amtool. A silence always ends: give --for or --until. Says how many alerts firing
    now it matches (the daemon mutes them from its next evaluation), and warns of an
    alertname no rule has."""
    from triaged.alerts.silence import MatcherError, Silence, parse_matchers, validate_silence_matchers
    from triaged.store import silences

    now = time.time()
    if _BARE_NAME.fullmatch(matchers[0]):
        matchers = (f"alertname={matchers[0]}", *matchers[1:])
    try:
        parsed = parse_matchers(matchers)
        validate_silence_matchers(parsed)
    except MatcherError as exc:
        raise click.BadParameter(str(exc), param_hint="MATCHERS") from exc
    if not reason.strip():
        raise click.BadParameter("say why", param_hint="--reason")
    starts = _time(start, "--start") if start else now
    ends = _end(starts, duration, until, now)
    cfg = _config(config_path)
    limit = cfg.alerting.silence_max_s if cfg else DEFAULT_MAX_S
    if ends - starts > limit:
        raise click.UsageError(
            f"silence longer than the {_dur(limit)} maximum (silences.max_duration): use a maintenance window"
        )
    store = open_db(db_path, config_path)
    added = silences.add(
        store, Silence(0, parsed, starts, ends, author or actor_default(), reason.strip(), created_at=now)
    )
    firing = _firing_matched(store, added)
    warning = None if firing else _unknown_rule(store, cfg, parsed)
    if as_json:
        print_json(_silence_dict(added, now, {}))
    else:
        click.echo(
            f"silence #{added.id} added: {added.matcher_text} from {when(starts)} until {when(ends)}"
            f" ({_dur(ends - starts)}) by {added.author}: {added.reason}"
        )
        click.echo(f"{_matched_text(firing)}; {_effect_text(starts, now)}")
    if warning:
        click.echo(f"warning: {warning}", err=True)


def _matched_text(firing: list[str]) -> str:
    if not firing:
        return "it matches no alert firing now"
    shown = ", ".join(firing[:3]) + (f" and {len(firing) - 3} more" if len(firing) > 3 else "")
    return f"it matches {len(firing)} alert{'s' if len(firing) > 1 else ''} firing now: {shown}"


def _effect_text(starts: float, now: float) -> str:
    """The daemon applies silences as it evaluates rules: until its next evaluation
    ``silence muted`` lists nothing the new silence mutes."""
    if starts > now:
        return "it takes effect at the daemon's first evaluation from its start"
    return "it takes effect at the daemon's next evaluation"


def _firing_matched(store: Any, silence: Any) -> list[str]:
    """The alerts firing at the daemon's last evaluation (kept in the store) that the
    silence matches, as ``Rule{labels}``."""
    from triaged.alerts.silence import alert_labels
    from triaged.rules.alerting import AlertState
    from triaged.store import alert_state

    return [
        f"{a.rule}{a.labels.without('alertname')}"
        for alerts in alert_state.load(store).values()
        for a in alerts
        if a.state is AlertState.FIRING and silence.matches(alert_labels(a))
    ]


def _unknown_rule(store: Any, cfg: Any, matchers: Any) -> str | None:
    """``no rule named DBPoolSaturaton (did you mean DBPoolSaturation?)`` for an
    ``alertname=`` matcher that names no rule known: from the config's rule files when
    there is a config, and from the store's alerts, incidents and muted alerts."""
    import difflib

    names = [m.value for m in matchers if m.name == "alertname" and m.op.value == "="]
    known = _known_rules(store, cfg)
    if not names or not known or names[0] in known:
        return None
    close = difflib.get_close_matches(names[0], sorted(known), n=1)
    return f"no rule named {names[0]}" + (f" (did you mean {close[0]}?)" if close else "")


def _known_rules(store: Any, cfg: Any) -> set[str]:
    from triaged.store import alert_state, silences
    from triaged.store import incidents as rows

    known = {a.rule for alerts in alert_state.load(store).values() for a in alerts}
    known.update(i.rule for i in rows.list_incidents(store, limit=1000) if i.rule)
    known.update(r["alertname"] for r in silences.muted(store, since=0, limit=1000))
    if cfg is not None:
        from triaged.rules.format import check_rule_file
        from triaged.rules.manager import expand_rule_paths

        for path in expand_rule_paths(cfg.rule_files, cfg.base_dir)[0]:
            groups = check_rule_file(path)[0]  # as far as they parse: a broken file still names its rules
            known.update(r.name for g in groups for r in g.rules if r.kind == "alert")
    return known


@silence.command("list")
@click.option("--expired-since", "expired_since", default="24h", show_default=True, metavar="DURATION",
              help="Also list silences that ended within this long.")  # fmt: skip
@click.option("--expiring-within", "expiring", default=None, metavar="DURATION",
              help="Only those ending within this long (default: silences.expiring_soon, 1h).")  # fmt: skip
@db_option
@config_option()
@json_option
def list_cmd(
    expired_since: str, expiring: str | None, db_path: str | None, config_path: str | None, as_json: bool
) -> None:
    """Silences: active, pending, EXPIRING soon and recently expired, soonest end first.
    EXPIRING: less than silences.expiring_soon (1h) and a quarter of its span left.
    With a config, open maintenance windows and those starting within 24 h are listed
    too, as maint:NAME (not in --json)."""
    from triaged.cli.incident_view import short_time
    from triaged.store import silences

    now = time.time()
    cfg = _config(config_path)
    soon = cfg.alerting.expiring_soon_s if cfg else DEFAULT_SOON_S
    if expiring:
        soon = _parse(expiring, "--expiring-within")
    store = open_db(db_path, config_path)
    found = silences.listing(store, now, expired_since=now - _parse(expired_since, "--expired-since"))
    if expiring:
        found = [s for s in found if now <= s.ends_at <= now + soon]
    counts = silences.muted_counts(store, "silence")
    if as_json:
        print_json([_silence_dict(s, now, counts, soon) for s in found])
        return
    rows: list[tuple[float, tuple[Any, ...]]] = [
        (
            s.ends_at,
            (
                s.id,
                _state(s, now, soon),
                s.matcher_text,
                short_time(s.starts_at, now),
                short_time(s.ends_at, now),
                _dur(s.ends_at - now) if s.ends_at > now else "-",
                s.author,
                counts.get(str(s.id), 0),
                s.reason,
            ),
        )
        for s in found
    ]
    windows = [w for w in _windows(cfg, now) if not expiring or w[1] <= now + soon]
    maint_counts = silences.muted_counts(store, "maintenance") if windows else {}
    rows += [
        (
            end,
            (
                f"maint:{w.name}",
                "active" if start <= now else "pending",
                ",".join(str(m) for m in w.matchers),
                short_time(start, now),
                short_time(end, now),
                _dur(end - now),
                "config",
                maint_counts.get(w.name, 0),
                w.reason or "-",
            ),
        )
        for w, start, end in windows
    ]
    if not rows:
        click.echo("no silences")
        return
    headers = ("ID", "STATE", "MATCHERS", "STARTS UTC", "ENDS UTC", "LEFT", "BY", "MUTED", "REASON")
    click.echo(table(headers, [row for _, row in sorted(rows, key=lambda r: r[0])]))


def _windows(cfg: Any, now: float) -> list[tuple[Any, float, float]]:
    """Maintenance windows open now or starting within 24 h: (window, start, end)."""
    out: list[tuple[Any, float, float]] = []
    for w in cfg.alerting.maintenance if cfg else ():
        span = w.active(now)
        if span is None:
            start = w.next_start(now)
            span = None if start is None or start - now > 86400 else (start, start + w.duration_s)
        if span is not None:
            out.append((w, *span))
    return out


@silence.command("expire")
@click.argument("silence_id", type=ID)
@click.option("--reason", "-m", default="", help="Why it ends early (on the timeline of incidents it muted).")
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def expire_cmd(
    silence_id: int, reason: str, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """End a silence now, or cancel one that has not started yet. It stays listed as
    expired (see --expired-since), with who ended it; an open incident whose alerts it
    muted gets a timeline entry saying so, with the reason."""
    from triaged.store import silences

    now = time.time()
    store = open_db(db_path, config_path)
    before = silences.get(store, silence_id)
    if before is None:
        raise click.ClickException(f"no silence #{silence_id}")
    if before.ends_at <= now:
        click.echo(f"silence #{silence_id} already ended {when(before.ends_at)}; nothing changed")
        return
    who = actor or actor_default()
    with store.atomic():
        found = silences.expire(store, silence_id, now, who) or before
        noted = silences.note_early_end(store, found, who, reason.strip(), now)
    if before.starts_at > now:
        click.echo(
            f"silence #{silence_id} cancelled before it started (it was to start {when(before.starts_at)}):"
            f" {found.matcher_text}"
        )
    else:
        click.echo(f"silence #{silence_id} ended {when(found.ends_at)}: {found.matcher_text}")
    if noted:
        click.echo(f"noted on the timeline of incident {', '.join(f'#{i}' for i in noted)}")
    elif reason.strip():
        click.echo("the reason is not kept: the silence muted no incident's alerts")


@silence.command("muted")
@click.option(
    "--since",
    "since",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How far back to look (1h, 7d).",
)
@click.option("--active", "active_only", is_flag=True, help="Only alerts muted right now.")
@db_option
@config_option()
@json_option
def muted_cmd(
    since: str, active_only: bool, db_path: str | None, config_path: str | None, as_json: bool
) -> None:
    """Alerts that fired while muted (silence, maintenance window, inhibition)."""
    from triaged.store import silences

    now = time.time()
    store = open_db(db_path, config_path)
    found = silences.muted(store, since=now - _parse(since, "--since"), active_only=active_only)
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo("no muted alerts")
        return
    click.echo(
        table(
            ("ALERT", "LABELS", "MUTED BY", "FROM", "UNTIL", "INCIDENT"),
            [
                (
                    r["alertname"],
                    ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items()) if k != "alertname"),
                    f"{r['kind']} {r['ref']}" if r["kind"] != "inhibit" else r["reason"],
                    when(r["first_at"]),
                    when(r["ended_at"]) if r["ended_at"] else "still muted",
                    f"#{r['incident_id']}" if r["incident_id"] else "-",
                )
                for r in found
            ],
        )
    )


# -- helpers ---------------------------------------------------------------------------
def _state(s: Any, now: float, soon: float) -> str:
    """EXPIRING once less than ``soon`` and a quarter of its span are left, so a fresh
    one-hour silence is not flagged the moment it is added."""
    if s.ends_at <= now:  # also a pending silence cancelled by `expire` (its end is before its start)
        return "expired"
    state = str(s.state(now))
    if state == "active" and s.ends_at - now < min(soon, 0.25 * (s.ends_at - s.starts_at)):
        return "EXPIRING"
    return state


def _silence_dict(s: Any, now: float, counts: dict[str, int], soon: float = DEFAULT_SOON_S) -> dict[str, Any]:
    return {
        "id": s.id,
        "state": _state(s, now, soon).lower(),
        "matchers": [str(m) for m in s.matchers],
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "author": s.author,
        "reason": s.reason,
        "muted": counts.get(str(s.id), 0),
    }


def _config(config_path: str | None) -> Any:
    """The parsed --config (or $TRIAGED_CONFIG); None without one, or when it is broken."""
    return config_or_defaults(config_path, "default silence limits, no maintenance windows or rule names")


def _end(starts: float, duration: str | None, until: str | None, now: float) -> float:
    if bool(duration) == bool(until):
        raise click.UsageError("give exactly one of --for DURATION or --until TIME: every silence ends")
    if duration:
        seconds = _parse(duration, "--for")
        if seconds <= 0:
            raise click.BadParameter(f"{duration!r}: a silence must last longer than 0s", param_hint="--for")
        return starts + seconds
    ends = _time(until or "", "--until")
    if ends <= now:
        raise click.UsageError(f"--until {when(ends)[:-7]} UTC is in the past")
    if ends <= starts:
        raise click.BadParameter(f"{when(ends)} is before --start {when(starts)}", param_hint="--until")
    return ends


def _time(text: str, option: str) -> float:
    """A typed time, refused as a usage error (exit 2)."""
    try:
        return parse_utc(text, option)
    except click.ClickException as exc:
        raise click.BadParameter(exc.message.removeprefix(f"{option}: "), param_hint=option) from None


def _parse(text: str, option: str) -> float:
    from triaged.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _dur(seconds: float) -> str:
    from triaged.durations import format_duration

    return format_duration(seconds)
