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

    Prints every problem as `file:line: message`; exits 1 if any. Warnings (an
    alert without a `severity` label, which opens P3 incidents) do not fail the check,
    and are printed for a file with problems too.
    """
    from triaged.rules.format import check_rule_file, rule_warnings

    problems = 0
    for path in files:
        groups, errors = check_rule_file(path)
        for e in errors:
            click.echo(str(e), err=True)
        for warning in rule_warnings(groups):  # worth a second look, fixed or not
            click.echo(warning, err=True)
        problems += len(errors)
        if not errors:
            click.echo(f"{path}: ok ({len(groups)} groups, {sum(len(g.rules) for g in groups)} rules)")
    if problems:
        sys.exit(1)


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--run",
    "run_pattern",
    metavar="REGEX",
    help="Only run test groups whose name matches REGEX (an error if none does).",
)
def test_cmd(files: tuple[str, ...], run_pattern: str | None) -> None:
    """Unit-test rule files with promtool-format test files.

    \b
    Each FILE lists `rule_files`, `input_series` and the alerts (`alert_rule_test`)
    or query results (`promql_expr_test`) expected at given times; see
    docs/rule-testing.md. Prints SUCCESS or FAILED with a diff per file; exits 1 if
    any case fails or a test file is malformed (reported as `file:line: message`).
    """
    import re

    from triaged.rules.rule_tests import format_file_result, run_rule_test_file

    try:
        run = re.compile(run_pattern) if run_pattern else None
    except re.error as exc:
        raise click.BadParameter(f"invalid regex: {exc}", param_hint="--run") from exc
    failed = ran = 0
    for path in files:
        result = run_rule_test_file(path, run)
        ran += result.groups_run
        if run is not None and result.ok and not result.groups_run:
            click.echo(f"Unit Testing: {path}\n  no test group matches --run {run_pattern}\n")
            continue
        click.echo(format_file_result(result))
        click.echo()
        failed += not result.ok
    if run is not None and not ran and not failed:
        raise click.ClickException(f"no test group matches --run {run_pattern}: nothing was tested")
    if failed:
        sys.exit(1)
