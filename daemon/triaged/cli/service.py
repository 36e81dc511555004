"""`triaged run`, `check`, `demo` and `simulate`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from triaged.cli.common import config_option


@click.command()
@config_option(required=True)
def run(config_path: str) -> None:
    """Run the daemon: scrape, evaluate rules, open incidents, page.

    SIGTERM/SIGINT finish the current cycle, flush the outbox for up to 5 s and exit 0.
    SIGHUP reloads rule files; a broken file keeps the old rules running.
    """
    from triaged import log
    from triaged.app import Runner, build
    from triaged.config import load_config
    from triaged.errors import ConfigError
    from triaged.store.db import StoreError

    try:
        cfg = load_config(config_path)
        log.configure(cfg.log_level, cfg.log_format)
        runner = Runner(build(cfg))
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc

    def stop(signum: int, _frame: FrameType | None) -> None:
        runner.stopped.set()

    def reload(signum: int, _frame: FrameType | None) -> None:
        try:
            runner.daemon.reload(load_config(config_path))
        except ConfigError as exc:
            import structlog

            structlog.get_logger("triaged.app").error("reload_failed", error=str(exc))

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    runner.start()
    runner.stopped.wait()
    runner.stopped.clear()
    runner.stop()


@click.command()
@config_option(required=True)
def check(config_path: str) -> None:
    """Validate the config and every rule file it names, without starting anything.

    Prints `file:line: message` for each problem and exits 1 if there is any.
    """
    from triaged.app import load_rule_specs
    from triaged.config import load_config
    from triaged.errors import ConfigError

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    specs, errors = load_rule_specs(cfg)
    for e in errors:
        click.echo(str(e), err=True)
    if errors:
        click.echo(f"{len(errors)} problem(s) found", err=True)
        sys.exit(1)
    rules = sum(len(g.rules) for g in specs)
    click.echo(
        f"{config_path}: ok ({len(cfg.targets)} targets, {len(cfg.probes)} probes, "
        f"{len(specs)} rule groups, {rules} rules, {len(cfg.notifiers)} notifiers)"
    )


@click.command()
@click.option(
    "--db",
    "db_path",
    default="triaged-demo.db",
    show_default=True,
    metavar="FILE",
    help="Where the demo keeps its incidents (recreated on each run).",
)
@click.option("--verbose", "-v", is_flag=True, help="Also show the daemon's own log.")
def demo(db_path: str, verbose: bool) -> None:
    """Game day: start the BharatMart simulator and the daemon, inject five faults one
    at a time, and check each is detected, paged once and auto-resolved (~2 minutes).

    Exits non-zero if any fault was missed, misclassified, paged twice or left open.
    """
    import io

    from triaged import log
    from triaged.demo import run_demo

    log.configure(
        "info" if verbose else "critical", "console", stream=sys.stderr if verbose else io.StringIO()
    )
    code = run_demo(Path(db_path), click.echo)
    sys.exit(code)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, help="0 picks a free port.")
@click.option("--environment", default="staging", show_default=True, help="The environment label.")
@click.option("--seed", default=1, show_default=True)
def simulate(host: str, port: int, environment: str, seed: int) -> None:
    """Run the BharatMart simulator alone, with an HTTP control API to inject faults.

    \b
    Examples:
      curl -s localhost:8080/control/faults
      curl -s -XPOST localhost:8080/control/faults -d '{"latency_ms": 600}'
      curl -s -XPOST localhost:8080/control/reset
    """
    from triaged.simulator import run_simulator

    run_simulator(host=host, port=port, environment=environment, seed=seed)
