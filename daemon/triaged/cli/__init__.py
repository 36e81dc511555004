"""The `triaged` command line. Thin: each command opens what it needs, calls one
operation, maps domain errors to one-line messages. Heavy imports stay inside the
commands so `triaged incidents list` starts fast."""

from __future__ import annotations

import click

from triaged import __version__
from triaged.cli.actions import actions
from triaged.cli.backup import backup
from triaged.cli.incidents import incidents
from triaged.cli.postmortem import postmortem
from triaged.cli.printable import guard_stdout
from triaged.cli.query import query
from triaged.cli.reload import reload
from triaged.cli.report import report
from triaged.cli.route import route
from triaged.cli.rules import rules
from triaged.cli.service import check, demo, run, simulate
from triaged.cli.silence import silence
from triaged.cli.slo import slo


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="triaged")
def cli() -> None:
    """triaged: detect incidents from Prometheus rules, page the on-call, and carry
    each incident from detection to postmortem.

    \b
    Start here:
      triaged demo                      game day against the built-in simulator
      triaged check --config FILE       validate config and rule files
      triaged run --config FILE         run the daemon
      triaged incidents list            every incident, newest first (--status open; --db FILE)
    """
    guard_stdout()  # titles and labels come from exporters: no terminal escapes get through


cli.add_command(run)
cli.add_command(check)
cli.add_command(reload)
cli.add_command(demo)
cli.add_command(simulate)
cli.add_command(incidents)
cli.add_command(rules)
cli.add_command(postmortem)
cli.add_command(actions)
cli.add_command(slo)
cli.add_command(report)
cli.add_command(query)
cli.add_command(silence)
cli.add_command(route)
cli.add_command(backup)


def main() -> None:
    cli(prog_name="triaged")
