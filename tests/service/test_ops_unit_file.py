"""The unit gives up on a restart loop, and `systemctl reload` fails when the daemon
rejects the files: its ExecReload= lines, run as systemd runs them, wait for the
daemon's verdict."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import TRIAGED, Setup, daemon_env

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "triaged.service"
INSTALLED = "/opt/triaged/venv/bin/triaged"
CONFIG = "/etc/triaged/triaged.yaml"


def settings(section: str) -> list[tuple[str, str]]:
    """``(key, value)`` of one section, in order, repeated keys kept (as systemd reads them)."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.append((key.strip(), value.strip()))
    return found


def seconds(text: str) -> float:
    units = {"": 1, "s": 1, "min": 60, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)\s*(min|s|m|h|)", text)
    assert match, text
    return int(match.group(1)) * units[match.group(2)]


def test_a_restart_loop_gives_up() -> None:
    unit = dict(settings("Unit"))
    service = dict(settings("Service"))
    interval = seconds(unit["StartLimitIntervalSec"])
    burst = int(unit["StartLimitBurst"])
    # Failing at once, starts come every RestartSec: the burst must fit in the interval,
    # or the limit never trips (systemd's default, 5 in 10 s, never does with 5 s apart).
    assert burst * seconds(service["RestartSec"]) < interval
    assert 3 <= burst <= 10 and interval <= 30 * 60


def test_reload_waits_for_the_daemons_verdict_on_the_same_config() -> None:
    service = settings("Service")
    start = dict(service)["ExecStart"]
    reloads = [value for key, value in service if key == "ExecReload"]
    assert reloads == [f"{INSTALLED} reload --config {CONFIG} --pid $MAINPID"]
    assert start == f"{INSTALLED} run --config {CONFIG}"


def reload_as_systemd(config: Path, mainpid: int) -> subprocess.CompletedProcess[str]:
    """Run the unit's ExecReload= lines in order, stopping at the first failure."""
    done = subprocess.CompletedProcess[str]([], 0, "", "")
    for key, value in settings("Service"):
        if key != "ExecReload":
            continue
        argv = [
            {INSTALLED: TRIAGED, CONFIG: str(config), "$MAINPID": str(mainpid)}.get(word, word)
            for word in shlex.split(value)
        ]
        done = subprocess.run(argv, capture_output=True, text=True, env=daemon_env(), timeout=90)
        if done.returncode != 0:
            return done
    return done


def test_systemctl_reload_fails_when_the_daemon_rejects_the_files(setup: Setup, start_daemon: Any) -> None:
    """`systemctl reload` reports what the daemon made of the files, not what a check
    saw a moment before: a broken rule file fails the reload with the file named, and
    the daemon keeps its old rules; the fixed file reloads."""
    daemon = start_daemon(setup.config)
    daemon.wait_event("daemon_started")
    setup.rules.write_text(setup.rules.read_text().replace("vector(1)", "vector(1"))
    rejected = reload_as_systemd(setup.config, daemon.proc.pid)
    assert rejected.returncode == 1
    assert str(setup.rules) in rejected.stderr and "previous rules are still running" in rejected.stderr
    assert len(daemon.named("reload_failed")) == 1  # the daemon read it: no check stood in
    setup.rules.write_text(setup.rules.read_text().replace("vector(1", "vector(1)"))
    accepted = reload_as_systemd(setup.config, daemon.proc.pid)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("reloaded: 1 rules, ")
    assert daemon.stop() == 0


def test_reload_of_a_process_that_never_answers_fails_and_says_why(setup: Setup) -> None:
    """A `triaged run` that ignores SIGHUP (hung) fails the reload after --timeout; one
    that exits on it fails at once, naming that. Stand-ins carry `triaged run` in their
    command line, as the real daemon does."""
    looks_like_triaged = ["triaged", "run"]  # argv after -c: what --pid checks for
    deaf = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(30)",
            *looks_like_triaged,
        ]
    )
    # SIGHUP's default action set explicitly: under nohup a plain `sleep` would ignore it.
    dies = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); time.sleep(30)",
            *looks_like_triaged,
        ]
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)  # both have set their handlers
        args = [TRIAGED, "reload", "--config", str(setup.config), "--timeout", "1", "--pid"]
        began = time.monotonic()
        ignored = subprocess.run(
            [*args, str(deaf.pid)], capture_output=True, text=True, env=daemon_env(), timeout=30
        )
        assert ignored.returncode == 1
        assert f"sent SIGHUP to {deaf.pid}, but no verdict" in ignored.stderr
        assert "within 1 s" in ignored.stderr
        assert 1.0 <= time.monotonic() - began < 10
        exited = subprocess.run(
            [*args, str(dies.pid)], capture_output=True, text=True, env=daemon_env(), timeout=30
        )
        assert exited.returncode == 1 and "it exited" in exited.stderr
        # A mistyped pid: another program is neither signalled (SIGHUP would end it)
        # nor waited on for the whole timeout.
        began = time.monotonic()
        refused = subprocess.run(
            [*args[:-2], "60", "--pid", str(other.pid)],
            capture_output=True,
            text=True,
            env=daemon_env(),
            timeout=30,
        )
        assert refused.returncode == 1 and time.monotonic() - began < 10
        assert f"pid {other.pid} is not a `triaged run`" in refused.stderr
        assert "nothing was signalled" in refused.stderr
        assert other.poll() is None, "the other program must still be running"
    finally:
        for proc in (deaf, dies, other):
            proc.kill()
            proc.wait(10)
