"""`triaged slo status`: error budget per SLO, from the SLI samples the daemon records."""

from __future__ import annotations

import time
from typing import Any

import click

from triaged.cli.common import config_option, db_option, json_option, open_db, print_json, table


@click.group()
def slo() -> None:
    """Service level objectives and error budgets."""


@slo.command("status")
@db_option
@config_option()
@json_option
def status_cmd(db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Each SLO: SLI over its window, error budget consumed and remaining.
    Needs a daemon that ran with `slos:` in its config (it records the SLIs)."""
    from triaged.incidents import slo as slo_mod
    from triaged.yamlfile import format_duration

    store = open_db(db_path, config_path)
    now = time.time()
    out: list[dict[str, Any]] = []
    for s in slo_mod.load_slos(store):
        b = slo_mod.budget(s, slo_mod.samples_for(store, s, now), now)
        out.append(
            {
                "slo": s.name,
                "service": s.service,
                "objective": s.objective,
                "window_s": s.window_s,
                "sli": b.sli,
                "recorded_s": b.events.covered_s,
                "bad_events": b.events.bad,
                "total_events": b.events.total,
                "allowed_bad_events": b.allowed_bad,
                "consumed": b.consumed,
                "remaining": b.remaining,
            }
        )
    if as_json:
        print_json(out)
        return
    if not out:
        click.echo("no SLOs recorded: add `slos:` to the config and run the daemon")
        return

    def pct(v: float | None, digits: int = 2) -> str:
        return "-" if v is None else ("∞" if v == float("inf") else f"{v * 100:.{digits}f} %")

    click.echo(
        table(
            ("SLO", "SERVICE", "OBJECTIVE", "WINDOW", "SLI", "BUDGET USED", "REMAINING", "DATA"),
            [
                (
                    o["slo"],
                    o["service"] or "*",
                    f"{o['objective'] * 100:g} %",
                    format_duration(o["window_s"]),
                    pct(o["sli"], 3),
                    pct(o["consumed"]),
                    pct(o["remaining"]),
                    format_duration(o["recorded_s"]),
                )
                for o in out
            ],
        )
    )
