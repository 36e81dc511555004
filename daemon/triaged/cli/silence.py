"""`triaged silence …`: mute alerts on purpose, for a while, with a name and a reason."""

from __future__ import annotations

import time
from typing import Any

import click

from triaged.cli.common import (
    ID,
    actor_default,
    config_option,
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


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", metavar="DURATION", help="How long, e.g. 2h, 30m. Required (or --until).")
@click.option(
    "--until", "until", metavar="TIME", help="End time: 'YYYY-MM-DD HH:MM' UTC (or add an offset, +05:30)."
)
@click.option(
    "--start", "start", metavar="TIME", help="Start later: 'YYYY-MM-DD HH:MM' UTC (or add an offset)."
)
@click.option("--reason", required=True, help="Why (shown to whoever wonders why nothing paged).")
@click.option("--by", "author", default=None, help="Who (default: $TRIAGED_USER or $USER).")
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
    name!~regex). A silence always ends: give --for or --until."""
    from triaged.alerts.silence import MatcherError, Silence, parse_matchers, validate_silence_matchers
    from triaged.store import silences

    now = time.time()
    try:
        parsed = parse_matchers(matchers)
        validate_silence_matchers(parsed)
    except MatcherError as exc:
        raise click.ClickException(str(exc)) from exc
    if not reason.strip():
        raise click.ClickException("--reason must say why")
    starts = parse_utc(start, "--start") if start else now
    ends = _end(starts, duration, until)
    limit = _limits(config_path)[0]
    if ends - starts > limit:
        raise click.ClickException(
            f"silence longer than the {_dur(limit)} maximum (silences.max_duration): use a maintenance window"
        )
    store = open_db(db_path, config_path)
    added = silences.add(
        store, Silence(0, parsed, starts, ends, author or actor_default(), reason.strip(), created_at=now)
    )
    if as_json:
        print_json(_silence_dict(added, now, {}))
        return
    click.echo(
        f"silence #{added.id} added: {added.matcher_text} from {when(starts)} until {when(ends)}"
        f" ({_dur(ends - starts)}) by {added.author}: {added.reason}"
    )


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
    """Silences: active, pending, EXPIRING soon and recently expired, soonest end first."""
    from triaged.store import silences

    now = time.time()
    soon = _parse(expiring, "--expiring-within") if expiring else _limits(config_path)[1]
    store = open_db(db_path, config_path)
    found = silences.listing(store, now, expired_since=now - _parse(expired_since, "--expired-since"))
    if expiring:
        found = [s for s in found if now <= s.ends_at <= now + soon]
    counts = silences.muted_counts(store, "silence")
    if as_json:
        print_json([_silence_dict(s, now, counts, soon) for s in found])
        return
    if not found:
        click.echo("no silences")
        return
    click.echo(
        table(
            ("ID", "STATE", "MATCHERS", "ENDS", "LEFT", "BY", "MUTED", "REASON"),
            [
                (
                    s.id,
                    _state(s, now, soon),
                    s.matcher_text,
                    when(s.ends_at),
                    _dur(s.ends_at - now) if s.ends_at > now else "-",
                    s.author,
                    counts.get(str(s.id), 0),
                    s.reason,
                )
                for s in found
            ],
        )
    )


@silence.command("expire")
@click.argument("silence_id", type=ID)
@click.option("--by", "actor", default=None, help="Who (default: $TRIAGED_USER or $USER).")
@db_option
@config_option()
def expire_cmd(silence_id: int, actor: str | None, db_path: str | None, config_path: str | None) -> None:
    """End a silence now, or cancel one that has not started yet. It stays listed as
    expired (see --expired-since), with who ended it."""
    from triaged.store import silences

    now = time.time()
    store = open_db(db_path, config_path)
    before = silences.get(store, silence_id)
    if before is None:
        raise click.ClickException(f"no silence #{silence_id}")
    if before.ends_at <= now:
        click.echo(f"silence #{silence_id} already ended {when(before.ends_at)}; nothing changed")
        return
    found = silences.expire(store, silence_id, now, actor or actor_default()) or before
    if before.starts_at > now:
        click.echo(
            f"silence #{silence_id} cancelled before it started (it was to start {when(before.starts_at)}):"
            f" {found.matcher_text}"
        )
        return
    click.echo(f"silence #{silence_id} ended {when(found.ends_at)}: {found.matcher_text}")


@silence.command("muted")
@click.option("--since", "since", default="24h", show_default=True, metavar="DURATION")
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
    if s.ends_at <= now:  # also a pending silence cancelled by `expire` (its end is before its start)
        return "expired"
    state = str(s.state(now))
    if state == "active" and s.ends_at - now <= soon:
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


def _limits(config_path: str | None) -> tuple[float, float]:
    if not config_path:
        return DEFAULT_MAX_S, DEFAULT_SOON_S
    from triaged.config import load_config
    from triaged.errors import ConfigError

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return cfg.alerting.silence_max_s, cfg.alerting.expiring_soon_s


def _end(starts: float, duration: str | None, until: str | None) -> float:
    if bool(duration) == bool(until):
        raise click.ClickException("give exactly one of --for DURATION or --until TIME: every silence ends")
    ends = starts + _parse(duration, "--for") if duration else parse_utc(until or "", "--until")
    if ends <= starts:
        raise click.ClickException("the silence would end before it starts")
    return ends


def _parse(text: str, option: str) -> float:
    from triaged.yamlfile import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.ClickException(f"{option}: {exc}") from exc


def _dur(seconds: float) -> str:
    from triaged.yamlfile import format_duration

    return format_duration(seconds)
