"""`triaged rules check|test`: rule files validated and unit-tested apart from the daemon."""

from __future__ import annotations

import sys

import click


@click.group()
def rules() -> None:
    """Validate and unit-test Prometheus rule files."""


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check_cmd(files: tuple[str, ...]) -> None:
    """Validate rule files: YAML, fields, PromQL, templates, severities.

    Prints every problem as `file:line: message`; exits 1 if any.
    """
    from triaged.rules.format import RuleFileError, load_rule_file

    problems = 0
    for path in files:
        try:
            groups = load_rule_file(path)
        except RuleFileError as exc:
            for e in exc.errors:
                click.echo(str(e), err=True)
            problems += len(exc.errors)
            continue
        click.echo(f"{path}: ok ({len(groups)} groups, {sum(len(g.rules) for g in groups)} rules)")
    if problems:
        sys.exit(1)
