"""The shipped unit file passes `systemd-analyze verify` and scores 2.0 or lower on
`systemd-analyze security --offline=yes`.

Where systemd-analyze is missing these tests FAIL, unless TRIAGED_NO_SYSTEMD=1 says
the machine deliberately has no systemd (then they are reported as skipped, with
the reason) — a missing tool must never look like a pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "triaged.service"
MAX_EXPOSURE = 2.0


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("TRIAGED_NO_SYSTEMD") == "1":
            pytest.skip("TRIAGED_NO_SYSTEMD=1: this machine has no systemd-analyze")
        pytest.fail("systemd-analyze not found: install systemd, or set TRIAGED_NO_SYSTEMD=1 to say why not")
    return tool


def test_unit_has_the_service_contract() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ExecReload=/opt/triaged/venv/bin/triaged reload --config /etc/triaged/triaged.yaml --pid $MAINPID",
        "StateDirectory=triaged",
        "ConfigurationDirectory=triaged",
        "User=triaged",
    ):
        assert line in text, line


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    """verify checks that ExecStart exists, so the install path is pointed at this
    checkout's entry point; everything else is the shipped file byte for byte."""
    tool = analyze()
    entry = Path(sys.executable).with_name("triaged")
    unit = tmp_path / "triaged.service"
    unit.write_text(UNIT.read_text().replace("/opt/triaged/venv/bin/triaged", str(entry)))
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "triaged.service" not in done.stderr, done.stderr  # no warnings about our unit


def test_security_exposure_is_at_most_2() -> None:
    tool = analyze()
    done = subprocess.run(
        [tool, "security", "--offline=yes", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for triaged\.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout
