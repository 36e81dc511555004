"""`triaged slo status`: error budget per SLO, from the SLI samples the daemon records."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from triaged.cli.common import config_option, db_option, json_option, open_db, print_json, table

if TYPE_CHECKING:
    from triaged.incidents.slo import SLO, Budget, Sample


@click.group()
def slo() -> None:
    """Service level objectives and error budgets."""


@slo.command("status")
@db_option
@config_option()
@json_option
def status_cmd(db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Each SLO: objective, window, SLI over the window and now, error budget used and
    remaining, the burn rate over the last hour and six hours (1× lasts exactly the
    window; 14.4× over 1 h is the SRE workbook's page threshold for 30 days), how much
    of the window is recorded and how old the newest sample is. An outage charged
    through the SLO's `down` expression (estimated at the traffic before it, as the
    app could not be scraped) is said under the table, and in `--json` as
    `estimated_s`.
    Needs a daemon that ran with `slos:` in its config (it records the SLIs)."""
    from triaged.durations import format_duration
    from triaged.incidents import slo as slo_mod

    store = open_db(db_path, config_path)
    now = time.time()
    rows: list[tuple[SLO, Budget, Sample | None, list[float | None]]] = []
    for s in slo_mod.load_slos(store):
        samples = slo_mod.samples_for(store, s, now)
        burns = [slo_mod.burn_rate(s, samples, now, span) for span in slo_mod.BURN_SPANS_S]
        rows.append((s, slo_mod.budget(s, samples, now), samples[-1] if samples else None, burns))
    if as_json:
        print_json([_as_json(s, b, last, burns, now) for s, b, last, burns in rows])
        return
    if not rows:
        click.echo("no SLOs recorded: add `slos:` to the config and run the daemon")
        return
    click.echo(
        table(
            (
                "SLO",
                "SERVICE",
                "OBJECTIVE",
                "WINDOW",
                "SLI (WINDOW)",
                "SLI NOW",
                "BUDGET USED",
                "REMAINING",
                "BURN 1H / 6H",
                "DATA",
            ),
            [
                (
                    s.name,
                    s.service or "*",
                    f"{s.objective * 100:g} %",
                    format_duration(s.window_s),
                    slo_mod.sli_text(b.sli, b.has_data),
                    slo_mod.sli_text(_last_sli(last), last is not None),
                    slo_mod.used_text(b.consumed, b.has_data),
                    slo_mod.remaining_text(b.consumed, b.has_data),
                    " / ".join(slo_mod.burn_text(r) for r in burns),
                    _data_text(s, b, last, now),
                )
                for s, b, last, burns in rows
            ],
        )
    )
    for s, b, _, _ in rows:
        if b.events.estimated_s > 0:
            why = "`total` returned nothing while `down` matched"
            click.echo(f"{s.name}: {slo_mod.estimated_text(b.events.estimated_s)} ({why})")


def _as_json(s: SLO, b: Budget, last: Sample | None, burns: list[float | None], now: float) -> dict[str, Any]:
    from triaged.incidents.slo import finite

    return {
        "slo": s.name,
        "service": s.service,
        "objective": s.objective,
        "window_s": s.window_s,
        "sli": b.sli,
        "sli_now": _last_sli(last),
        "last_sample_at": last[0] if last else None,
        "stale": _stale(s, last, now),
        "recorded_s": b.events.covered_s,
        # Of recorded_s: outage charged as all bad at the traffic seen before it.
        "estimated_s": b.events.estimated_s,
        "bad_events": b.events.bad,
        "total_events": b.events.total,
        "allowed_bad_events": b.allowed_bad,
        # Unknown (null) without a sample, not 0 % used; null too for an allowance of
        # zero that is overspent (JSON has no Infinity): "exhausted" says which.
        "consumed": finite(b.consumed) if b.has_data else None,
        "remaining": finite(b.remaining) if b.has_data else None,
        "exhausted": b.has_data and b.consumed >= 1,
        "burn_rate_1h": burns[0],
        "burn_rate_6h": burns[1],
    }


def _last_sli(last: Sample | None) -> float | None:
    """The SLI of the newest sample: what the service does now, not over the window."""
    if last is None or last[2] <= 0:
        return None
    return min(max(last[1], 0.0), last[2]) / last[2]


def _stale(s: SLO, last: Sample | None, now: float) -> bool:
    """No sample for more than two intervals: the daemon is down or the SLI cannot be
    evaluated, and every figure on the line is older than it looks."""
    return last is None or now - last[0] > 2 * s.interval_s


def _data_text(s: SLO, b: Budget, last: Sample | None, now: float) -> str:
    """How much of the window is recorded, and how old the newest sample is."""
    from triaged.durations import format_duration

    if last is None:
        return "none recorded: is the daemon running with this SLO?"
    age = format_duration(max(0.0, now - last[0]))
    text = f"{format_duration(b.events.covered_s)} of {format_duration(s.window_s)}, last {age} ago"
    return f"{text} (STALE)" if _stale(s, last, now) else text
