"""Fault → page latency: triaged beside Prometheus + Alertmanager, in one run.

One BharatMart simulator is scraped every 5 s by both systems, which load the same
shortened copy of ``rules/bharatmart.rules.yml`` (see :data:`WINDOWS` and
:data:`FOR`). Each system pages its own webhook receiver (the same class,
:class:`StampedReceiver`, one instance each so every page is attributed without
guessing). Each seed fault is injected at a recorded instant, at a random phase of the scrape
interval, stratified over the repetitions so every part of the interval gets its
share and neither system's scrape phase is favoured; the time until each receiver
gets a firing page naming the fault's rule is recorded.
The simulator logs every scrape with its User-Agent, so each page is also split into
the wait for that system's next scrape (chance: the fault lands somewhere in the
interval) and what the system took after it (data crossing the threshold, ``for:``,
evaluation phase, notification hops).

triaged runs as a real daemon (``triaged run``) in its own process, as do Prometheus
(evaluation interval 5 s) and Alertmanager (``group_wait: 1s``, clustering off).
Prometheus evaluates each rule group at a fixed offset within the interval, a hash
of the group's name and its file's path; one run would measure one draw of it. So
every repetition reloads Prometheus with the rules at a new path (a new offset,
printed as the group's evaluation delay after Prometheus's scrape), and the medians
are over offsets as well as over fault instants, as across many deployments.
Both group pages by ``alertname`` and ``service``, so every fault is a new incident
in triaged and a new aggregation group in Alertmanager. If the Debian packages
``prometheus``/``prometheus-alertmanager`` are missing, triaged runs alone.

    .venv/bin/python benchmarks/bench_page_latency.py [--reps 3] [--faults latency,down]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import requests

from triaged.simulator import Simulator
from triaged.store import incidents as incident_rows
from triaged.store.db import Store, open_store
from triaged.testing.receiver import RecordingReceiver

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules" / "bharatmart.rules.yml"
TRIAGED = Path(sys.executable).with_name("triaged")
SCRAPE_S = 5
# Range windows become four scrape intervals (the usual minimum for rate()); `for:`
# keeps its proportions: two evaluations for the 2m/5m rules, one for the 1m ones.
WINDOWS = "20s"
FOR = {"2m": "10s", "5m": "10s", "1m": "5s"}
DETECT_TIMEOUT_S = 60.0
SETTLE_S = SCRAPE_S + 1.0


@dataclass(frozen=True)
class Fault:
    name: str
    changes: dict[str, Any]
    rule: str


FAULTS = (
    Fault("latency", {"latency_ms": 600}, "HighP95Latency"),
    Fault("payments", {"payment_failure_ratio": 0.2}, "PaymentFailureRateHigh"),
    Fault("db-pool", {"db_pool_in_use_ratio": 0.9}, "DBPoolSaturation"),
    Fault("chaos-prod", {"chaos_enabled": True, "environment": "production"}, "ChaosInProduction"),
    Fault("down", {"down": True}, "ServiceDown"),
)


class StampedReceiver(RecordingReceiver):
    """A :class:`RecordingReceiver` that also notes when each payload arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        receiver = self

        class Stamped(base):  # type: ignore[misc,valid-type]
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 4 * 1024 * 1024))
                with receiver._lock:
                    receiver.arrivals.append((arrived, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Stamped

    def __enter__(self) -> StampedReceiver:
        self.start()
        return self

    def first_page(self, rule: str, since: float) -> float | None:
        """Arrival time of the first firing page naming ``rule`` at or after ``since``."""
        with self._lock:
            arrivals = list(self.arrivals)
        for arrived, payload in arrivals:
            if arrived < since:
                continue
            for alert in payload.get("alerts", []):
                if alert.get("status") == "firing" and alert.get("labels", {}).get("alertname") == rule:
                    return arrived
        return None


# -- configuration written for both systems ---------------------------------------------


def short_rules(text: str, holds: dict[str, str] = FOR) -> str:
    text = re.sub(r"\[\d+[smh]\]", f"[{WINDOWS}]", text)
    return re.sub(r"(for:\s*)(\d+[smh])", lambda m: m.group(1) + holds.get(m.group(2), m.group(2)), text)


def triaged_config(sim: str, rules: Path, db: Path, hook: str) -> str:
    return f"""
storage: {{db: "{db}"}}
scrape: {{interval: {SCRAPE_S}s, timeout: 4s}}
evaluation_interval: {SCRAPE_S}s
rule_files: ["{rules}"]
targets:
  - {{job: bharatmart, url: "{sim}/metrics", labels: {{service: bharatmart-api}}}}
incidents: {{group_by: [alertname, service], resolve_hold: 1s, reopen_window: 1s}}
notifiers:
  - {{name: hook, type: webhook, url: "{hook}", timeout: 2s}}
outbox: {{interval: 500ms, base_backoff: 500ms}}
log: {{level: warning, format: json}}
"""


def prometheus_config(sim: str, rules: Path, am_port: int) -> str:
    host = sim.removeprefix("http://")
    return f"""
global: {{scrape_interval: {SCRAPE_S}s, scrape_timeout: 4s, evaluation_interval: {SCRAPE_S}s}}
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: bharatmart
    static_configs:
      - targets: ["{host}"]
        labels: {{service: bharatmart-api}}
"""


def alertmanager_config(hook: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{hook}", send_resolved: true}}]
"""


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


class Prometheus:
    """Prometheus + Alertmanager, started with their own configs, ports and dirs."""

    def __init__(self, stack: ExitStack, tmp: Path, *, sim: str, rules: Path, hook: str, binaries: list[str]):
        prom_bin, am_bin = binaries
        self.port, am_port = free_port(), free_port()
        (tmp / "alertmanager.yml").write_text(alertmanager_config(hook))
        (tmp / "prometheus.yml").write_text(prometheus_config(sim, rules, am_port))
        am = [
            am_bin,
            f"--config.file={tmp / 'alertmanager.yml'}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # empty: no clustering
        ]
        self.tmp, self.sim, self.am_port, self.rules_text = tmp, sim, am_port, rules.read_text()
        prom = [
            prom_bin,
            "--web.enable-lifecycle",  # POST /-/reload: a new rule file path per repetition
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        stack.enter_context(process(am, tmp / "alertmanager.log"))
        stack.enter_context(process(prom, tmp / "prometheus.log"))
        wait_for(
            lambda: requests.get(f"http://127.0.0.1:{am_port}/-/ready", timeout=1).ok, 30, "alertmanager"
        )
        wait_for(lambda: requests.get(self.api("/-/ready"), timeout=1).ok, 30, "prometheus")

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def new_rule_path(self, rep: int) -> None:
        """Reload with the same rules at a new path, which gives every rule group a new
        evaluation offset, and wait until the new groups have been evaluated once."""
        # Before the old groups go: a reload drops their alerts without a resolved
        # notification, and Alertmanager then holds them as active for 4 minutes (the
        # endsAt Prometheus gave them), so the next repetition's alert, with the same
        # labels, joined an alert already notified and was never paged (run C's misses).
        wait_for(lambda: not self._am_alerts(), 6 * SCRAPE_S, "alertmanager to hear every alert resolved")
        rules = self.tmp / f"prom-rules-{rep}" / "bharatmart.rules.yml"
        rules.parent.mkdir()
        rules.write_text(self.rules_text)
        (self.tmp / "prometheus.yml").write_text(prometheus_config(self.sim, rules, self.am_port))
        requests.post(self.api("/-/reload"), timeout=10).raise_for_status()
        wait_for(lambda: self._loaded(rules), 3 * SCRAPE_S, "prometheus to load the new rule path")

    def eval_delays(self, sim: Simulator) -> dict[str, float]:
        """Seconds from each of Prometheus's scrapes to each rule group's evaluation."""
        scrapes = sim.scrapes_since(time.time() - 2 * SCRAPE_S, "Prometheus/")
        if not scrapes:
            return {}
        delays = {}
        for g in self._groups():
            evaluated = datetime.fromisoformat(g["lastEvaluation"]).timestamp()
            delays[g["name"]] = (evaluated - scrapes[-1]) % SCRAPE_S
        return delays

    def _loaded(self, rules: Path) -> bool:
        """Every group comes from ``rules`` and has been evaluated (Go's zero time
        before that)."""
        return all(g["file"] == str(rules) and g["lastEvaluation"][:4] != "0001" for g in self._groups())

    def _groups(self) -> list[dict[str, Any]]:
        doc = requests.get(self.api("/api/v1/rules"), timeout=2).json()
        groups: list[dict[str, Any]] = doc["data"]["groups"]
        return groups

    def explain(self, rule: str) -> str:
        """Where a missing page got stuck: Prometheus's alert, then Alertmanager's."""
        alerts = requests.get(self.api("/api/v1/alerts"), timeout=2).json()["data"]["alerts"]
        prom = [(a["state"], a.get("activeAt", "")) for a in alerts if a["labels"].get("alertname") == rule]
        am_url = f"http://127.0.0.1:{self.am_port}/api/v2/alerts"
        am = requests.get(am_url, params={"filter": f'alertname="{rule}"'}, timeout=2).json()
        held = [(a["status"]["state"], a.get("startsAt", ""), a.get("endsAt", "")) for a in am]
        return f"prometheus {prom or 'no alert'}; alertmanager {held or 'no alert'}"

    def scraped(self) -> bool:
        doc = requests.get(self.api("/api/v1/query"), params={"query": "up"}, timeout=2).json()
        return bool(doc["data"]["result"])

    def active(self, rule: str) -> bool:
        """Whether the rule's alert is still active in Prometheus or in Alertmanager."""
        doc = requests.get(self.api("/api/v1/alerts"), timeout=2).json()
        return any(a["labels"].get("alertname") == rule for a in doc["data"]["alerts"]) or bool(
            self._am_alerts(rule)
        )

    def _am_alerts(self, rule: str | None = None) -> list[dict[str, Any]]:
        params = {"active": "true", "silenced": "false", "inhibited": "false"}
        if rule is not None:
            params["filter"] = f'alertname="{rule}"'
        url = f"http://127.0.0.1:{self.am_port}/api/v2/alerts"
        alerts: list[dict[str, Any]] = requests.get(url, params=params, timeout=2).json()
        return alerts


class Triaged:
    def __init__(self, stack: ExitStack, tmp: Path, sim: str, rules: Path, hook: str) -> None:
        db = tmp / "triaged.db"
        cfg = tmp / "triaged.yaml"
        cfg.write_text(triaged_config(sim, rules, db, hook))
        stack.enter_context(process([str(TRIAGED), "run", "--config", str(cfg)], tmp / "triaged.log"))
        wait_for(db.exists, 30, "triaged to create its store")
        self.store: Store = open_store(db, create=False)
        stack.callback(self.store.close)

    def active(self, rule: str) -> bool:
        for inc in incident_rows.open_incidents(self.store):
            if any(a["alertname"] == rule for a in incident_rows.incident_alerts(self.store, inc.id)):
                return True
        return False


# -- the run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One fault's page: seconds from injection to the page, and how much of it was
    spent waiting for the system's next scrape (the part neither system controls)."""

    total: float
    scrape_wait: float

    @property
    def after_scrape(self) -> float:
        return self.total - self.scrape_wait


@dataclass
class System:
    name: str
    user_agent: str  # how its scrapes show in the simulator's log
    hook: StampedReceiver
    active: Callable[[str], bool]
    pages: dict[str, list[Page | None]]
    explain: Callable[[str], str] | None = None  # what it shows when a page is missing


def scrape_wait(sim: Simulator, system: System, injected: float) -> float:
    """Seconds from ``injected`` to the system's next scrape. A target that is down
    logs no scrapes, so that one is predicted from the last scrape before the fault."""
    recent = sim.scrapes_since(injected - 2 * SCRAPE_S, system.user_agent)
    after = [t for t in recent if t >= injected]
    if after:
        return after[0] - injected
    before = [t for t in recent if t < injected]
    return (before[-1] + SCRAPE_S - injected) if before else float("nan")


def wait_for_phase(sim: Simulator, phase: float) -> None:
    """Sleep until ``phase`` seconds (0 ≤ phase < one interval) after a triaged scrape.
    Prometheus scrapes at a fixed offset from triaged, so this places the fault in
    both systems' intervals at once."""
    last = max(sim.scrapes_since(time.time() - 2 * SCRAPE_S, "triaged/"), default=None)
    if last is None:  # no scrape seen: any instant is as good
        return
    ahead = (last + phase - time.time()) % SCRAPE_S
    time.sleep(ahead)


def play(sim: Simulator, systems: list[System], fault: Fault, phase: float) -> None:
    deadline = time.monotonic() + DETECT_TIMEOUT_S
    while any(s.active(fault.rule) for s in systems) and time.monotonic() < deadline:
        time.sleep(0.5)  # the previous repetition's alert must be gone first
    wait_for_phase(sim, phase)
    sim.set_faults(**fault.changes)
    injected = time.time()
    found: dict[str, float | None] = {s.name: None for s in systems}
    deadline = time.monotonic() + DETECT_TIMEOUT_S
    while time.monotonic() < deadline and any(v is None for v in found.values()):
        for s in systems:
            if found[s.name] is None:
                found[s.name] = s.hook.first_page(fault.rule, injected)
        time.sleep(0.05)
    sim.reset()
    for s in systems:
        if found[s.name] is None and s.explain is not None:  # while the fault is still on
            print(f"  {s.name} missed {fault.rule}: {s.explain(fault.rule)}", flush=True)
    for s in systems:
        page = found[s.name]
        got = None if page is None else Page(page - injected, scrape_wait(sim, s, injected))
        s.pages[fault.rule].append(got)
    shown = "  ".join(f"{s.name} {_fmt_page(s.pages[fault.rule][-1])}" for s in systems)
    print(f"  {fault.name:<11} {fault.rule:<24} {shown}", flush=True)
    time.sleep(SETTLE_S)


def _fmt_page(page: Page | None) -> str:
    return "missed" if page is None else f"{page.total:6.2f}s (scrape wait {page.scrape_wait:4.2f}s)"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def report(systems: list[System], faults: tuple[Fault, ...]) -> None:
    """Two tables of medians per rule and system, with their ratio when there are two
    systems: seconds from injection to page, then the same with each page's wait for
    the system's next scrape taken out."""
    print("\nmedian seconds from fault injected to page received (missed pages not counted)")
    _table(systems, faults, lambda p: p.total)
    print("\nthe same, after each system's first scrape following the fault")
    _table(systems, faults, lambda p: p.after_scrape)


def _table(systems: list[System], faults: tuple[Fault, ...], measure: Callable[[Page], float]) -> None:
    pair = len(systems) == 2
    print(f"{'rule':<24}" + "".join(f"{s.name:>26}" for s in systems) + ("   ratio" if pair else ""))
    for fault in faults:
        medians: list[float | None] = []
        cells = []
        for s in systems:
            got = [measure(p) for p in s.pages[fault.rule] if p is not None]
            got = [v for v in got if not math.isnan(v)]
            medians.append(statistics.median(got) if got else None)
            missed = len(s.pages[fault.rule]) - len(got)
            cells.append(_cell(medians[-1]) + (f" ({missed} missed)" if missed else ""))
        row = f"{fault.rule:<24}" + "".join(f"{c:>26}" for c in cells)
        first, second = medians[0], medians[-1]
        if pair and first is not None and second:
            row += f"   {first / second:.2f}"
        print(row)


def binaries() -> list[str] | None:
    prom = shutil.which("prometheus")
    am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return [prom, am] if prom and am else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every fault (default 3)")
    ap.add_argument("--faults", default=",".join(f.name for f in FAULTS), help="comma-separated subset")
    ap.add_argument("--seed", type=int, default=1, help="seed for the random injection phase")
    ap.add_argument("--triaged-only", action="store_true", help="do not start Prometheus/Alertmanager")
    ap.add_argument("--workdir", type=Path, help="keep configs, logs and stores here (default: a temp dir)")
    ap.add_argument(
        "--no-for",
        action="store_true",
        help="every `for:` 0s: what each system adds beyond the hold the rules ask for",
    )
    args = ap.parse_args()
    # A SIGTERM (timeout, kill) unwinds like Ctrl-C, so the daemons it started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    faults = tuple(f for f in FAULTS if f.name in args.faults.split(","))
    found = None if args.triaged_only else binaries()
    if found is None and not args.triaged_only:
        print("prometheus / prometheus-alertmanager not installed (Debian packages `prometheus`,"
              " `prometheus-alertmanager`): running triaged alone")  # fmt: skip
    rng = random.Random(args.seed)
    started = time.monotonic()
    with ExitStack() as stack:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=False)
        tmp = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-page-")))
        rules = tmp / "bharatmart.short.rules.yml"
        holds = dict.fromkeys(FOR, "0s") if args.no_for else FOR
        rules.write_text(short_rules(RULES.read_text(), holds))
        sim = stack.enter_context(Simulator(environment="staging", seed=7, traffic_rps=200.0))
        systems: list[System] = []
        hook = stack.enter_context(StampedReceiver())
        triaged = Triaged(stack, tmp, sim.url, rules, hook.url)
        systems.append(System("triaged", "triaged/", hook, triaged.active, {f.rule: [] for f in faults}))
        prom: Prometheus | None = None
        if found is not None:
            am_hook = stack.enter_context(StampedReceiver())
            prom = Prometheus(stack, tmp, sim=sim.url, rules=rules, hook=am_hook.url, binaries=found)
            pages: dict[str, list[Page | None]] = {f.rule: [] for f in faults}
            pair = System("prometheus+alertmanager", "Prometheus/", am_hook, prom.active, pages, prom.explain)
            systems.append(pair)
            wait_for(prom.scraped, 30, "prometheus's first scrape")
        print(f"scrape {SCRAPE_S}s, evaluation {SCRAPE_S}s, windows [{WINDOWS}], for {holds}; "
              f"{args.reps} repetitions; warming up for {4 * SCRAPE_S}s", flush=True)  # fmt: skip
        time.sleep(4 * SCRAPE_S)  # rate windows need a few points before the first fault
        for rep in range(args.reps):
            print(f"repetition {rep + 1}/{args.reps}", flush=True)
            if prom is not None:
                prom.new_rule_path(rep)
                delays = ", ".join(f"{k} {v:.2f}s" for k, v in prom.eval_delays(sim).items())
                print(f"  prometheus rule groups evaluate after its scrape by: {delays}", flush=True)
            for i, fault in enumerate(faults):
                # Stratified: over the repetitions each fault lands once in every
                # 1/reps-th of the scrape interval (at a random point within it), so a
                # few repetitions already cover the interval evenly instead of by luck.
                stratum = (rep + i) % args.reps
                play(sim, systems, fault, (stratum + rng.random()) / args.reps * SCRAPE_S)
        report(systems, faults)
    print(f"\ntotal {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
