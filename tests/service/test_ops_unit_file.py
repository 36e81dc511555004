"""The unit gives up on a restart loop, and `systemctl reload` fails for a broken
config: its ExecReload= lines, run as systemd runs them, check before they signal."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
from pathlib import Path

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


def test_reload_checks_the_same_config_before_signalling() -> None:
    service = settings("Service")
    start = dict(service)["ExecStart"]
    reloads = [value for key, value in service if key == "ExecReload"]
    assert reloads == [f"{INSTALLED} check --config {CONFIG}", "/bin/kill -HUP $MAINPID"]
    assert start == f"{INSTALLED} run --config {CONFIG}"


def reload_as_systemd(config: Path, mainpid: int) -> int:
    """Run the unit's ExecReload= lines in order, stopping at the first failure."""
    for key, value in settings("Service"):
        if key != "ExecReload":
            continue
        argv = [
            {INSTALLED: TRIAGED, CONFIG: str(config), "$MAINPID": str(mainpid)}.get(word, word)
            for word in shlex.split(value)
        ]
        code = subprocess.run(argv, capture_output=True, env=daemon_env(), timeout=30).returncode
        if code != 0:
            return code
    return 0


def test_a_broken_rule_file_fails_the_reload_and_sends_no_signal(setup: Setup) -> None:
    main = subprocess.Popen(["sleep", "30"])  # stands in for the daemon: SIGHUP ends it
    try:
        setup.rules.write_text(setup.rules.read_text().replace("vector(1)", "vector(1"))
        assert reload_as_systemd(setup.config, main.pid) != 0
        assert main.poll() is None  # never signalled: the old rules keep running
        setup.rules.write_text(setup.rules.read_text().replace("vector(1", "vector(1)"))
        assert reload_as_systemd(setup.config, main.pid) == 0
        assert main.wait(10) == -signal.SIGHUP
    finally:
        main.kill()
        main.wait(10)
