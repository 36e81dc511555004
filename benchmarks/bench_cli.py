"""CLI start-up: wall time of `triaged --help` and `triaged incidents list`.

Each command runs as a fresh process (what an on-call engineer waits for), ``runs``
times after one warm-up run; the median is printed. `incidents list` reads a store
holding 100 incidents, a third of them still open.

    .venv/bin/python benchmarks/bench_cli.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.store.db import open_store

TRIAGED = str(Path(sys.executable).with_name("triaged"))
GOAL_S = 0.25


def make_db(path: Path, count: int = 100) -> None:
    store = open_store(path)
    now = time.time()
    with store.atomic():
        for i in range(count):
            opened = now - (count - i) * 3600
            status = IncidentStatus.DETECTED if i % 3 == 0 else IncidentStatus.RESOLVED
            rows.insert_incident(
                store,
                Incident(
                    id=0,
                    group_key=f"alertname=HighP95Latency,service=svc-{i}",
                    service=f"svc-{i % 7}",
                    title=f"BharatMart: P95 latency {500 + i} ms > 500 ms",
                    severity=Severity(i % 4),
                    status=status,
                    detected_at=opened,
                    opened_at=opened,
                    updated_at=opened + 60,
                    rule="HighP95Latency",
                    resolved_at=None if status is IncidentStatus.DETECTED else opened + 900,
                ),
            )
    store.close()


def median_wall(args: list[str], runs: int) -> float:
    subprocess.run(args, check=True, capture_output=True)  # warm the page cache
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        db = Path(tmp) / "triaged.db"
        make_db(db)
        commands = {
            "triaged --help": [TRIAGED, "--help"],
            "triaged incidents list": [TRIAGED, "incidents", "list", "--db", str(db)],
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
        }
        print(f"median wall time of {runs} runs (goal for `incidents list`: < {GOAL_S} s)")
        for name, args in commands.items():
            print(f"  {name:<26} {median_wall(args, runs):.3f} s")


if __name__ == "__main__":
    main()
