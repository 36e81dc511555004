"""`triaged reload`: make the running daemon re-read its config and rule files, and
report what it made of them (through the HTTP API, or after a SIGHUP from the outcome
file the daemon writes: :mod:`triaged.service.reload_status`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import click

from triaged.cli.common import api_unreachable, config_option
from triaged.errors import ConfigError


@click.command()
@config_option(required=True)
@click.option("--pid", type=int, default=None, help="Signal this process instead (systemd: $MAINPID).")
@click.option("--signal", "use_signal", is_flag=True, help="Send SIGHUP even when the HTTP API is enabled.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the daemon's verdict.",
)
def reload(config_path: str, pid: int | None, use_signal: bool, timeout_s: float) -> None:
    """Make the running daemon re-read its config and rule files, and say whether it
    took them.

    Rules, targets, probes, receivers, routing, inhibition, maintenance windows, SLOs,
    the log level and the API token change at once, keeping the state of unchanged
    alerts; other edited settings (storage, incidents.group_by, outbox, oci…) are
    named as waiting for a restart.

    \b
    With the HTTP API enabled: POST /api/v1/reload with the configured token.
    Otherwise (or with --signal/--pid): SIGHUP to the daemon holding the store's lock
    (or --pid; a stale triaged.pid is not trusted), then wait for that daemon's verdict
    in <state dir>/triaged.reload.json.
    Either way it prints the outcome and exits 1 if the files were rejected (the old
    rules keep running) or no verdict came within --timeout.
    Under systemd: systemctl reload triaged (which runs this with --pid $MAINPID).
    """
    from triaged.config import load_config
    from triaged.service.host import pid_file_for

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"{exc} (fix it first: the daemon would reject it too)") from exc
    if cfg.http.enabled and pid is None and not use_signal:
        _reload_via_api(cfg, timeout_s)
        return
    pid_file = pid_file_for(cfg)
    if pid is None:
        pid = _daemon_pid(cfg.db_path, pid_file)
    else:
        _refuse_other_programs(pid)
    _reload_via_signal(pid, pid_file, timeout_s)


def _daemon_pid(db_path: str, pid_file: Path) -> int:
    """The pid of the daemon running on this store. A pid file outlives a daemon killed
    with -9 (or a reboot), and its pid may since belong to any process, which SIGHUP
    would end: the store's instance lock, which the kernel drops when its holder dies,
    has the last word."""
    from triaged.service.instance import running

    store = Path(db_path).resolve()
    holder = running(db_path)
    if holder and holder.isdigit():
        return int(holder)
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except FileNotFoundError as exc:
        raise click.ClickException(
            f"no triaged is running on {store}: no {pid_file}"
            " (a daemon keeps the store it started with: after editing storage.db, use --pid)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{pid_file}: no pid of a running daemon ({exc})") from exc
    if holder is None and not _is_triaged_run(pid):  # a daemon that could not take the lock is one
        raise click.ClickException(
            f"no triaged is running on {store}: {pid_file} is left from one"
            f" that did not stop cleanly (pid {pid} is not a `triaged run`); nothing was signalled"
        )
    return pid


def _refuse_other_programs(pid: int) -> None:
    """A mistyped --pid must not end a shell or a database: SIGHUP's default is to
    terminate. Where /proc cannot tell (no /proc, gone already) the signal decides."""
    args = _cmdline(pid)
    if args and not _looks_like_triaged_run(args):
        shown = " ".join(a.decode(errors="replace") for a in args)[:120]
        raise click.ClickException(
            f"pid {pid} is not a `triaged run` (it runs: {shown}); nothing was signalled"
        )


def _cmdline(pid: int) -> list[bytes]:
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _is_triaged_run(pid: int) -> bool:
    return _looks_like_triaged_run(_cmdline(pid))


def _looks_like_triaged_run(args: list[bytes]) -> bool:
    return b"run" in args and any(arg.rstrip(b"/").endswith(b"triaged") for arg in args)


def _reload_via_signal(pid: int, pid_file: Path, timeout_s: float) -> None:
    from triaged.service import reload_status

    sent = time.monotonic()
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise click.ClickException(f"cannot signal pid {pid}: {exc.strerror}") from exc
    status_file = reload_status.path_beside(pid_file)
    outcome = reload_status.wait(status_file, pid, sent, timeout_s, alive=lambda: _alive(pid))
    if outcome is None:
        why = "it exited" if not _alive(pid) else f"no verdict in {status_file} within {timeout_s:g} s"
        raise click.ClickException(f"sent SIGHUP to {pid}, but {why}; the daemon's log has the outcome")
    _report_reload(outcome)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, but there
        pass
    try:  # a zombie takes signals but will never answer (its parent has yet to reap it)
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc: the signal's answer is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _reload_via_api(cfg: Any, timeout_s: float) -> None:
    import requests

    from triaged.service.auth import TokenError, load_token

    try:
        token = load_token(cfg.http.token_file, cfg.http.token_env)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    host = "127.0.0.1" if cfg.http.host in ("0.0.0.0", "") else cfg.http.host
    url = f"http://{'[' + host + ']' if ':' in host else host}:{cfg.http.port}/api/v1/reload"
    try:
        resp = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
        outcome = resp.json()
    except requests.RequestException as exc:
        hint = "" if isinstance(exc, requests.Timeout) else " If it started before `http:` was set: --signal"
        raise click.ClickException(api_unreachable(url, exc) + hint) from exc
    except ValueError as exc:
        raise click.ClickException(f"{url}: HTTP {resp.status_code}, not a JSON answer") from exc
    if not isinstance(outcome, dict):
        raise click.ClickException(f"{url}: HTTP {resp.status_code}, not a reload outcome")
    if resp.status_code != 200:  # a 422 carries the daemon's errors; a 401 or 503 one line
        said = f"{url}: HTTP {resp.status_code} {outcome.get('error') or ''}".rstrip()
        outcome = {"ok": False, "errors": outcome.get("errors") or [said]}
    _report_reload(outcome)


def _report_reload(outcome: dict[str, Any]) -> None:
    """Print the daemon's verdict on a reload; a rejected one exits 1."""
    if outcome.get("ok"):
        kept = outcome.get("kept_alerts", 0)
        click.echo(f"reloaded: {outcome.get('rules', 0)} rules, {kept} alerts kept")
        sources = outcome.get("sources") or {}
        for what in ("added", "removed", "changed"):
            for key in sources.get(what) or ():
                click.echo(f"{what}: {key}")
        for name in outcome.get("retiring") or ():
            click.echo(
                f"note: receiver '{name}' is gone from the config; it still sends what was queued for it"
            )
        for section in outcome.get("needs_restart", []):
            click.echo(f"note: '{section}' changed; it takes effect after a restart")
        return
    for line in outcome.get("errors") or ["the daemon gave no reason; see its log"]:
        click.echo(line, err=True)
    raise click.ClickException("reload rejected; the previous rules are still running")
