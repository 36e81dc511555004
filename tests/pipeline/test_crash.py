"""SIGKILL at random points over 50 incident cycles: a real subprocess running the real
daemon cycle on a persisted fake clock, a real webhook receiver, a real SQLite file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from triaged.store import open_store
from triaged.testing.receiver import RecordingReceiver

START, PERIOD, ON, CYCLES = 1_700_000_000.0, 12.0, 5.0, 50
UNTIL = START + CYCLES * PERIOD - 1  # the end of the last quiet phase: resolved and sent by then
RULES = """
groups:
  - name: checkout
    rules:
      - alert: CheckoutBroken
        expr: svc_broken > 0
        for: 1s
        labels: {severity: P1}
"""


def _config(tmp_path: Path, hook: str) -> Path:
    (tmp_path / "crash.rules.yml").write_text(RULES)
    cfg = tmp_path / "crash.yaml"
    cfg.write_text(
        f"""
storage: {{db: "{tmp_path / "crash.db"}"}}
evaluation_interval: 1s
rule_files: [crash.rules.yml]
incidents: {{group_by: [service], resolve_hold: 2s, reopen_window: 3s}}
notifiers:
  - {{name: pager, type: webhook, url: "{hook}", timeout: 5s}}  # headroom on a loaded machine
outbox: {{base_backoff: 1s, max_backoff: 4s, lease: 2s}}
"""
    )
    return cfg


def _run_with_kills(cfg: Path, clock: Path, kills: int, rng: random.Random) -> int:
    """Start the driver; kill it ``kills`` times at random moments after it is up;
    then let it finish. Returns how many kills landed."""
    cmd = [sys.executable, "-m", "triaged.testing.crashloop", "--config", str(cfg), "--clock", str(clock),
           "--start", str(START), "--until", str(UNTIL), "--period", str(PERIOD), "--on", str(ON)]  # fmt: skip
    landed = 0
    deadline = time.monotonic() + 120  # ~8 s when idle; headroom for a loaded CI machine
    while time.monotonic() < deadline:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ready")
        if landed < kills:
            time.sleep(rng.uniform(0.005, 0.06))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                landed += 1
                continue
        assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0
        return landed
    raise AssertionError("the crash loop did not finish in time")


def test_sigkill_at_random_points_loses_nothing_and_pages_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(5)
    with RecordingReceiver() as hook:
        cfg = _config(tmp_path, hook.url)
        kills = _run_with_kills(cfg, tmp_path / "clock", kills=20, rng=rng)
        received = hook.payloads()
    assert kills >= 15
    store = open_store(tmp_path / "crash.db", create=False)
    incidents = store.query("SELECT id, opened_at, status FROM incidents ORDER BY id")
    # One incident per outage, never two.
    cycles = Counter(int((i["opened_at"] - START) // PERIOD) for i in incidents)
    assert len(incidents) == CYCLES and set(cycles) == set(range(CYCLES)) and set(cycles.values()) == {1}
    assert {i["status"] for i in incidents} == {"resolved"}
    # Every notification recorded was delivered: an open and a resolve per incident.
    rows = store.query("SELECT dedup_key, status FROM outbox")
    assert len(rows) == 2 * CYCLES and {r["status"] for r in rows} == {"sent"}
    got = Counter(p["dedupKey"] for p in received)
    assert set(got) == {r["dedup_key"] for r in rows}, "no notification lost"
    # A kill between send and record re-sends once, with the same dedup key.
    resent = sum(n - 1 for n in got.values())
    assert resent <= kills
    by_event = {(p["incidentId"], p["event"]) for p in received}
    assert len(by_event) == len(got), "re-sends share their dedup key"
    store.close()
