"""`triaged report`: incident response over a period."""

from __future__ import annotations

import time

import click

from triaged.cli.common import config_option, db_option, json_option, open_db, print_json, table


@click.command("report")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Period to cover, back from now (7d, 30d, 12h).",
)
@db_option
@config_option()
@json_option
def report(since: str, db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Incidents by severity, MTTD/MTTA/MTTM/MTTR (median and p90), error budget per SLO,
    late postmortems, open and overdue action items, and the noisiest rules."""
    from triaged.cli.postmortem import policy_from
    from triaged.durations import parse_duration
    from triaged.incidents.report import build_report, render_report

    try:
        period = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    if period <= 0:  # an empty period: every figure would read "none" as if all were quiet
        raise click.BadParameter(
            f"{since!r} is no time at all: give a period such as 7d", param_hint="--since"
        )
    now = time.time()
    result = build_report(open_db(db_path, config_path), now - period, now, policy_from(config_path))
    if as_json:
        print_json(result.to_dict())
        return
    click.echo(render_report(result, since, table))
