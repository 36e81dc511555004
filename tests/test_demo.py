"""`triaged demo` exactly as a new user runs it: a real process, real time, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_detects_every_fault_and_leaves_its_store_behind(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "triaged", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=170
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "demo passed: 5 faults detected" in run.stdout
    for step in ("latency", "payments", "db-pool", "chaos-prod", "outage"):
        assert f"{step}: injecting" in run.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "triaged", "incidents", "list", "--db", "triaged-demo.db", "--json"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    incidents = json.loads(listed.stdout)
    assert sorted(i["severity"] for i in incidents) == ["P0", "P1", "P1", "P1", "P2"]
    assert all(i["status"] == "resolved" for i in incidents)
