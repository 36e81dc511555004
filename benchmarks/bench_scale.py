"""Scale: N targets × M series at a 15 s interval with the shipped rules, on one core.

The real daemon (:func:`triaged.app.build`, its cycle, dispatch and gc) runs in this
process on a fake clock; only time is simulated. Targets are scraped over real HTTP
from a server in a *separate* process, so the daemon's CPU figure does not include
serving the payloads. Each target serves the BharatMart capture inflated to M
samples (as in ``bench_ingest.py``) with a ``shard`` target label of its own, and
6 of 7 values change on every scrape, as counters do.

Per simulated 15 s the daemon does what the scheduler would make it do: one cycle
per 1 s tick (the one at the interval scrapes and evaluates the shipped rules; the
others find nothing due), plus the 1 s outbox dispatch job, plus gc every 60 s.
The storage is first filled to the default retention (derived from the rules, 15 min
= 61 points per series), then CPU time (user + system, all threads) is measured over
several intervals. RSS per series is the growth of VmRSS from before the first
scrape to the end, divided by the series held.

    .venv/bin/python benchmarks/bench_scale.py [NxM ...]     # default: 10x1000 100x1000 200x1000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import FIXTURE, inflate

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules" / "bharatmart.rules.yml"
INTERVAL_S = 15
MEASURED_INTERVALS = 8


# -- the target server (runs in its own process) ------------------------------------------


def serve(targets: int, series: int) -> None:
    """Serve ``/t/<i>/metrics`` for ``targets`` targets; print the port, run until killed."""
    lines = [ln.rsplit(" ", 1) for ln in inflate(FIXTURE.read_text(), series).splitlines()]
    keys = [k for k, _ in lines]
    base = [float(v) for _, v in lines]
    scrapes = [0] * targets

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            i = int(self.path.split("/")[2])
            scrapes[i] += 1
            k = scrapes[i]
            body = "".join(
                f"{key} {v + k * (j % 7):g}\n" for j, (key, v) in enumerate(zip(keys, base, strict=True))
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# -- the daemon ----------------------------------------------------------------------------


def vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def config_text(port: int, targets: int, db: Path) -> str:
    lines = [
        f'storage: {{db: "{db}"}}',
        f"scrape: {{interval: {INTERVAL_S}s, timeout: 10s}}",
        f"evaluation_interval: {INTERVAL_S}s",
        f'rule_files: ["{RULES}"]',
        "notifiers: [{name: log, type: log}]",
        "log: {level: error}",
        "targets:",
    ]
    lines += [
        f'  - {{job: bharatmart, url: "http://127.0.0.1:{port}/t/{i}/metrics", labels: {{shard: "t{i}"}}}}'
        for i in range(targets)
    ]
    return "\n".join(lines) + "\n"


def run(targets: int, series: int) -> dict[str, float]:
    from triaged import log
    from triaged.app import build
    from triaged.config import parse_config
    from triaged.testing.clock import FakeClock
    from triaged.yamlfile import load_yaml_text

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(targets), str(series)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            cfg = parse_config(load_yaml_text(config_text(port, targets, Path(tmp) / "t.db"), "<bench>"), tmp)
            log.configure(cfg.log_level, cfg.log_format)
            clock = FakeClock(1_800_000_000.0)
            daemon = build(cfg, clock=clock)
            retention_s = daemon.storage.limits.retention_ms / 1000  # type: ignore[operator]
            gc.collect()
            rss0 = vm_rss()

            def interval() -> None:
                for _ in range(INTERVAL_S):
                    now = clock.now()
                    daemon.cycle(now)
                    daemon.dispatcher.dispatch(now)
                    if int(now) % 60 == 0:
                        daemon.gc()
                    clock.advance(1.0)

            fill = int(retention_s // INTERVAL_S) + 1
            started = time.perf_counter()
            for _ in range(fill):
                interval()
            filled = time.perf_counter() - started
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            rules_s = 0.0
            for _ in range(MEASURED_INTERVALS):
                interval()
                rules_s += sum(h.last_duration_s for g in daemon.rules.groups for h in g.health.values())
            cpu = (cpu_seconds() - cpu0) / MEASURED_INTERVALS
            wall = (time.perf_counter() - wall0) / MEASURED_INTERVALS
            held = len(daemon.storage)
            points = daemon.storage.sample_count()
            rss = vm_rss() - rss0
            daemon.close()
            daemon.store.close()
    finally:
        server.kill()
        server.wait()
    return {
        "series": held,
        "points_per_series": points / held,
        "retention_s": retention_s,
        "fill_s": filled,
        "cpu_s_per_interval": cpu,
        "wall_s_per_interval": wall,
        "cpu_share": cpu / INTERVAL_S,
        "rules_s_per_cycle": rules_s / MEASURED_INTERVALS,
        "rss_per_series": rss / held,
    }


def run_fresh(targets: int, series: int) -> dict[str, float]:
    """:func:`run` in a new process: memory freed by an earlier size stays in this
    process's RSS and would hide part of the next size's growth."""
    args = [sys.executable, __file__, "--one", str(targets), str(series)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(run(int(sys.argv[2]), int(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sizes", nargs="*", default=["10x1000", "100x1000", "200x1000"], help="NxM")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}; interval {INTERVAL_S}s, shipped rules")
    print(f"{'targets x series':>17} {'series':>8} {'pts/series':>10} {'CPU s/15s':>10} {'CPU share':>10}"
          f" {'rules/cycle':>11} {'RSS/series':>11} {'fill':>7}")  # fmt: skip
    for size in args.sizes:
        n, m = (int(x) for x in size.split("x"))
        r = run_fresh(n, m)
        rules_ms = r["rules_s_per_cycle"] * 1000
        print(f"{size:>17} {r['series']:>8,.0f} {r['points_per_series']:>10.1f}"
              f" {r['cpu_s_per_interval']:>10.3f} {r['cpu_share']:>10.1%} {rules_ms:>8.0f} ms"
              f" {r['rss_per_series']:>9,.0f} B {r['fill_s']:>6.0f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
