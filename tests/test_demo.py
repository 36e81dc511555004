"""`triaged demo` exactly as a new user runs it: a real process, real time, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.demo import STEPS, StepResult, clear_demo_store, demo_marker, render_table
from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Severity


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


def test_demo_refuses_to_replace_a_store_it_did_not_make(tmp_path: Path) -> None:
    """`--db` means "the store to read" everywhere else: typed out of habit with the
    production store, the demo must refuse, not wipe the incident history."""
    real = tmp_path / "triaged.db"
    real.write_bytes(b"SQLite format 3\x00 incidents of a real daemon")
    run = CliRunner().invoke(cli, ["demo", "--db", str(real)])
    assert run.exit_code == 1
    assert f"{real} exists and is not a store the demo made" in run.output
    assert real.read_bytes() == b"SQLite format 3\x00 incidents of a real daemon"


def test_the_demo_replaces_only_its_own_earlier_store(tmp_path: Path) -> None:
    said: list[str] = []
    db = tmp_path / "triaged-demo.db"
    clear_demo_store(db, said.append)  # first run: nothing to remove, the marker is made
    assert said == [] and demo_marker(db).exists()
    db.write_text("the last demo's incidents")
    Path(f"{db}-wal").write_text("wal")
    clear_demo_store(db, said.append)
    assert said == [f"removing the previous demo store {db}"]
    assert not db.exists() and not Path(f"{db}-wal").exists()


def test_the_demo_table_keeps_what_is_wrong_in_a_long_title() -> None:
    title = "BharatMart: health check http://127.0.0.1:38509/api/health failing"
    inc = Incident(
        id=5, group_key="service=api", service="api", title=title, severity=Severity.P0,
        status=IncidentStatus.RESOLVED, detected_at=100.0, opened_at=102.0, updated_at=105.0,
        resolved_at=105.0,
    )  # fmt: skip
    result = StepResult(STEPS[-1], injected_at=100.0, cleared_at=103.0, incidents=[inc])
    row = render_table([result]).splitlines()[1]
    assert "failing" in row and "BharatMart: health check" in row
    assert "2.0s" in row and "fault→open" in render_table([result])
