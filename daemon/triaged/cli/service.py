"""`triaged run`, `check`, `demo` and `simulate`."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from triaged.cli.common import config_option
from triaged.errors import ConfigError


@click.command()
@config_option(required=True)
@click.option(
    "--flush-timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM, how long to keep delivering pending notifications.",
)
def run(config_path: str, flush_timeout: float) -> None:
    """Run the daemon: scrape, evaluate rules, open incidents, page.

    \b
    Refuses to start while a required setting is missing (see `triaged check`).
    Under systemd (Type=notify) it reports READY=1 once config, rules and store
    are loaded, and feeds the watchdog from the scheduler loop.
    SIGHUP (or `triaged reload`) re-reads config and rule files; a broken file
    keeps the old rules running. SIGTERM/SIGINT finish the current cycle, flush
    the outbox for up to --flush-timeout seconds and exit 0.
    """
    import structlog

    from triaged import log
    from triaged.app import build
    from triaged.config import load_config
    from triaged.runner import Runner
    from triaged.service.auth import TokenError
    from triaged.service.host import ServiceHost, pid_file_for
    from triaged.service.preflight import required_problems
    from triaged.store.db import StoreError

    _hold_early_reloads()
    # Until the config says otherwise: a config that does not load is reported in the
    # format (JSON when piped or under systemd) and at the priority of every other line.
    log.configure()
    try:
        cfg = load_config(config_path)
        log.configure(cfg.log_level, cfg.log_format)
        problems = required_problems(cfg)
        if problems:
            structlog.get_logger("triaged.cli").error("startup_refused", errors=problems)
            raise click.ClickException("refusing to start:\n  " + "\n  ".join(problems))
        for warning in cfg.warnings:
            structlog.get_logger("triaged.cli").warning("config_warning", warning=warning)
        _warn_exposed_token(cfg)
        _hold_the_store(cfg.db_path)
        runner = Runner(build(cfg))
        host = ServiceHost(runner, config_path)
    except (ConfigError, StoreError, TokenError, OSError) as exc:
        structlog.get_logger("triaged.cli").error("startup_failed", error=str(exc))
        raise click.ClickException(str(exc)) from exc
    _serve(host, pid_file_for(cfg), flush_timeout)


def _warn_exposed_token(cfg: Any) -> None:
    """Log, not refuse: a token file other users can read is a hole, but a daemon that
    stops paging after an upgrade over a file mode is a worse one."""
    import structlog

    from triaged.service.auth import plaintext_listen_warning, token_file_exposure

    if not cfg.http.enabled:
        return
    cli_log = structlog.get_logger("triaged.cli")
    if exposed := token_file_exposure(cfg.http.token_file):
        cli_log.warning("token_file_readable_by_others", path=cfg.http.token_file, warning=exposed)
    if plaintext := plaintext_listen_warning(cfg.http.host):
        cli_log.warning("http_listen_not_loopback", host=cfg.http.host, warning=plaintext)


def http_warnings(cfg: Any) -> list[str]:
    """`triaged check`'s warnings about the API's exposure, as ``config: warning: …``."""
    from triaged.service.auth import plaintext_listen_warning, token_file_exposure

    if not cfg.http.enabled:
        return []
    found = [token_file_exposure(cfg.http.token_file), plaintext_listen_warning(cfg.http.host)]
    return [f"{cfg.path}: warning: {text}" for text in found if text]


def _hold_the_store(db_path: str) -> None:
    """Refuse to start beside a daemon already running on this store; the lock is held
    until this process ends (triaged.service.instance)."""
    import structlog

    from triaged.service.instance import AlreadyRunningError, acquire

    try:
        _HELD.append(acquire(db_path))
    except AlreadyRunningError as exc:
        structlog.get_logger("triaged.cli").error("startup_refused", errors=[str(exc)])
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a read-only state dir must not stop paging
        structlog.get_logger("triaged.cli").warning(
            "instance_lock_failed", path=db_path, error=exc.strerror or str(exc)
        )


_HELD: list[Any] = []  # the instance lock, alive as long as the process
_EARLY_RELOADS: list[int] = []  # SIGHUPs that came before _serve could act on them


def _hold_early_reloads() -> None:
    """`triaged reload` signals the pid in the store's lock, taken before the rules and
    store are loaded; SIGHUP's default action would end the daemon in that window (and
    systemd does not restart a unit a SIGHUP ended). Keep it for _serve instead."""
    signal.signal(signal.SIGHUP, lambda signum, _frame: _EARLY_RELOADS.append(signum))


def _serve(host: Any, pid_file: Path, flush_s: float) -> None:
    """The main thread: turn signals into reloads and one stop. Signal handlers only
    set flags; the work happens here, outside the handler.

    The handlers take no lock. Python runs them in the main thread between bytecodes,
    also while that thread is inside a lock of its own (a ``threading.Event`` it waits
    on, say): a handler taking the same lock deadlocked the daemon under a burst of
    SIGHUPs, deaf to SIGTERM. The loop is woken through the interpreter's wakeup fd,
    which the C-level handler writes without any lock."""
    wanted = {"stop": False, "reload": False}

    def on_stop(_signum: int, _frame: FrameType | None) -> None:
        wanted["stop"] = True

    def on_reload(_signum: int, _frame: FrameType | None) -> None:
        wanted["reload"] = True

    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    wanted["reload"] = bool(_EARLY_RELOADS)  # its verdict is on the files as read after it
    _write_pid(pid_file)
    try:
        host.start()
        while not wanted["stop"]:
            _wait_for_signal(wake_r, 1.0)
            if wanted["reload"] and not wanted["stop"]:
                wanted["reload"] = False  # a burst of SIGHUPs is one reload
                host.reload()
    finally:
        host.stop(flush_s=flush_s)
        _remove_pid(pid_file)
        signal.set_wakeup_fd(-1)
        wake_r.close()
        wake_w.close()


def _wait_for_signal(wake: socket.socket, timeout: float) -> None:
    """Sleep until a signal arrives or ``timeout`` passes; drain the wakeup bytes."""
    select.select([wake], [], [], timeout)
    try:
        while wake.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _write_pid(path: Path) -> None:
    try:
        path.write_text(f"{os.getpid()}\n", encoding="ascii")
    except OSError as exc:  # a read-only state dir must not stop paging
        import structlog

        structlog.get_logger("triaged.cli").warning("pid_file_failed", path=str(path), error=exc.strerror)


def _remove_pid(path: Path) -> None:
    try:
        if path.read_text(encoding="ascii").strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


@click.command()
@config_option(required=True)
@click.option(
    "--connect",
    is_flag=True,
    help="Also poll each target and probe once, open a TCP connection to each webhook "
    "(nothing is posted), bind http.listen (and let it go) and call each configured OCI service "
    "with the configured credentials.",
)
@click.option(
    "--timeout", default=5.0, show_default=True, metavar="SECONDS", help="Per check, with --connect."
)
def check(config_path: str, connect: bool, timeout: float) -> None:
    """Validate the config, its required settings and every rule file, without
    starting anything.

    Prints every problem it finds, one per line as `file:line: message` (a mistake
    in one section, list item or key does not hide the next), and exits 1 if there is any.
    """
    import io

    from triaged import log
    from triaged.app import load_rule_specs
    from triaged.config import InvalidConfigError, load_config
    from triaged.service.preflight import oci_offline_problems, required_problems

    log.configure("critical", "console", stream=io.StringIO())  # findings are printed, not logged
    found: list[ConfigError] = []
    try:
        cfg = load_config(config_path)
    except InvalidConfigError as exc:
        found += exc.errors
        if exc.partial is None:
            _fail([str(e) for e in found])
        cfg = exc.partial  # defaults stand in for the broken parts: the rule files still get checked
    except ConfigError as exc:  # unreadable, or not YAML
        _fail([str(exc)])
    specs, errors = load_rule_specs(cfg)
    # On a partial config, required settings would report knock-on effects of its errors.
    problems = [] if found else required_problems(cfg) + oci_offline_problems(cfg)
    found += errors
    found.sort(key=lambda e: (e.file != cfg.path, e.file or "", e.line or 0))  # the config first
    problems = [str(e) for e in found] + problems
    # Worth a look, not wrong in themselves; shown first, as one may explain a problem
    # ("${CONFIGURATION_DIRECTORY} is not set" before "matches no file").
    for warning in [*cfg.warnings, *http_warnings(cfg)]:
        click.echo(warning, err=True)  # file:line: warning: …
    if problems:
        _fail(problems)
    if connect:
        failed = _connect(cfg, timeout)  # one line per check, FAIL ones included
        if failed:
            click.echo(f"{failed} problem(s) found", err=True)
            sys.exit(1)
    rules = sum(len(g.rules) for g in specs)
    click.echo(
        f"{config_path}: ok ({len(cfg.targets)} targets, {len(cfg.probes)} probes, "
        f"{len(specs)} rule groups, {rules} rules, {len(cfg.notifiers)} notifiers"
        + (", all reachable)" if connect else ")")
    )


def _connect(cfg: Any, timeout: float) -> int:
    """Print ``ok``/``FAIL`` for each reachability check; return how many failed."""

    from triaged.app import build_sources
    from triaged.service.preflight import connect_checks

    results = [
        (reach.ok, reach.what + (f": {reach.detail}" if reach.detail else ""))
        for reach in connect_checks(cfg, build_sources(cfg), time.time(), timeout)
    ]
    if cfg.http.enabled:
        results.append(_listen_check(cfg.http.host, cfg.http.port, timeout, cfg.db_path))
    for ok, text in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'}  {text}")
    return sum(not ok for ok, _ in results)


def _listen_check(host: str, port: int, timeout: float, db: str) -> tuple[bool, str]:
    """Can the daemon listen on http.listen? Bind it as the daemon's server does
    (SO_REUSEADDR) and let go at once. An address held by the triaged running on this
    config's store, whose /healthz answers, is fine: this check is also run before a
    restart. Held by a triaged on another store, it is not: this one could not start."""
    import errno
    import socket

    from triaged.service.instance import running

    what = f"http.listen {host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return False, f"{what}: {exc.strerror or exc}"
            if not _triaged_answers(host, port, timeout):
                return False, f"{what} is already in use"
            pid = running(db)
            if pid is None:
                return False, f"{what} is held by another triaged (none runs on {db})"
            return True, f"{what} (held by the running triaged{f', pid {pid}' if pid else ''})"
    return True, what


def _triaged_answers(host: str, port: int, timeout: float) -> bool:
    """Whether the process on host:port answers /healthz as triaged does."""
    import json
    import urllib.error
    import urllib.request

    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via $http_proxy
    try:
        with direct.open(url, timeout=timeout) as resp:
            body = json.loads(resp.read(4096))
    except urllib.error.HTTPError as exc:  # 503: a triaged whose loop is stuck
        try:
            body = json.loads(exc.read(4096))
        except ValueError:
            return False
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and {"status", "detail"} <= body.keys()


def _fail(problems: list[str]) -> NoReturn:
    for p in problems:
        click.echo(p, err=True)
    click.echo(f"{len(problems)} problem(s) found", err=True)
    sys.exit(1)


@click.command()
@click.option(
    "--db",
    "db_path",
    default="triaged-demo.db",
    show_default=True,
    metavar="FILE",
    help="Where the demo keeps its incidents: recreated on each run, so only a store an earlier demo made.",
)
@click.option("--verbose", "-v", is_flag=True, help="Also show the daemon's own log.")
def demo(db_path: str, verbose: bool) -> None:
    """Game day: start the BharatMart simulator and the daemon, inject five faults one
    at a time, and check each is detected, paged once and auto-resolved (about 50 seconds).

    Exits non-zero if any fault was missed, misclassified, paged twice or left open.
    """
    import io

    from triaged import log
    from triaged.demo import DemoStoreError, run_demo

    log.configure(
        "info" if verbose else "critical", "console", stream=sys.stderr if verbose else io.StringIO()
    )
    try:
        code = run_demo(Path(db_path), click.echo)
    except DemoStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address both listeners bind to.")
@click.option(
    "--port",
    default=3000,
    show_default=True,
    help="The app: /metrics and /api/health (3000, as the real API and config/triaged.example.yaml)."
    " 0 picks a free port.",
)
@click.option(
    "--control-port",
    default=3001,
    show_default=True,
    help="The control API that injects faults (stays up while the app is down). 0 picks a free port.",
)
@click.option("--environment", default="staging", show_default=True, help="The environment label.")
@click.option("--seed", default=1, show_default=True, help="Random seed: the same seed, the same traffic.")
@click.option(
    "--rps",
    default=200.0,
    type=click.FloatRange(min=1.0),
    show_default=True,
    help="Simulated requests per second (~9 % of them payments). The demo config's short"
    " windows are tuned for 200: much less, and the 1 % baseline of failed payments pages by chance.",
)
def simulate(host: str, port: int, control_port: int, environment: str, seed: int, rps: float) -> None:
    """Run the BharatMart simulator alone, with an HTTP control API to inject faults.
    It prints its URLs when it starts.

    \b
    Examples (default ports):
      curl -s localhost:3000/metrics
      curl -s localhost:3001/control/faults
      curl -s -XPOST localhost:3001/control/faults -d '{"latency_ms": 600}'
      curl -s -XPOST localhost:3001/control/reset
    """
    from triaged.simulator import run_simulator

    try:
        run_simulator(
            host=host,
            port=port,
            environment=environment,
            control_port=control_port,
            seed=seed,
            traffic_rps=rps,
        )
    except OSError as exc:  # a port in use, an address not on this host
        raise click.ClickException(
            f"cannot start the simulator: {exc.strerror} (--port and --control-port 0 pick free ports)"
        ) from exc
