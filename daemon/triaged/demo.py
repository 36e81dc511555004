"""`triaged demo`: a scripted game day against the built-in BharatMart simulator.

Each step injects one fault, waits for the daemon to open the incident it is about,
checks the page went out once, removes the fault and waits for the auto-resolve. The
run fails (non-zero exit) if any fault was missed, misclassified, paged twice or left
open. Everything runs for real: HTTP on 127.0.0.1, SQLite on disk, APScheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from triaged.app import Daemon, build
from triaged.cli.incident_view import middle_cut
from triaged.config import parse_config
from triaged.incidents.model import Incident
from triaged.model import Severity
from triaged.runner import Runner
from triaged.simulator import Simulator
from triaged.store import incidents as incident_rows
from triaged.store import outbox
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

Say = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    name: str
    fault: str
    changes: tuple[dict[str, Any], ...]
    rules: frozenset[str]
    severity: Severity


STEPS = (
    Step(
        "latency", "chaos latency 600 ms", ({"latency_ms": 600},), frozenset({"HighP95Latency"}), Severity.P1
    ),
    Step(
        "payments",
        "payment failures at 20 %",
        ({"payment_failure_ratio": 0.2},),
        frozenset({"PaymentFailureRateHigh"}),
        Severity.P1,
    ),
    Step(
        "db-pool",
        "DB pool 90 % in use",
        ({"db_pool_in_use_ratio": 0.9},),
        frozenset({"DBPoolSaturation"}),
        Severity.P2,
    ),
    Step(
        "chaos-prod",
        "chaos on, environment=production",
        ({"chaos_enabled": True, "environment": "production"},),
        frozenset({"ChaosInProduction"}),
        Severity.P1,
    ),
    Step(
        "outage",
        "readiness 503, then the app stops answering",
        ({"ready": False}, {"down": True}),
        frozenset({"ServiceNotReady", "ServiceDown"}),
        Severity.P0,
    ),
)


@dataclass
class StepResult:
    step: Step
    injected_at: float
    cleared_at: float | None = None
    incidents: list[Incident] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def incident(self) -> Incident | None:
        return self.incidents[0] if self.incidents else None


def demo_config_text(sim_url: str, db: Path, hook: str) -> str:
    template = resources.files("triaged.data").joinpath("demo.yaml").read_text()
    rules = resources.files("triaged.data").joinpath("demo.rules.yml")
    return (
        template.replace("{SIM}", sim_url)
        .replace("{DB}", str(db.resolve()))
        .replace("{HOOK}", hook)
        .replace("{RULES}", str(rules))
    )


class GameDay:
    def __init__(self, daemon: Daemon, sim: Simulator, hook: RecordingReceiver, say: Say) -> None:
        self.daemon = daemon
        self.sim = sim
        self.hook = hook
        self.say = say

    def run(
        self, steps: tuple[Step, ...] = STEPS, *, detect_timeout: float = 30, resolve_timeout: float = 40
    ) -> list[StepResult]:
        results = []
        for number, step in enumerate(steps, 1):
            self.say(f"[{number}/{len(steps)}] {step.name}: injecting {step.fault}")
            results.append(self._play(step, detect_timeout, resolve_timeout))
        return results

    def _play(self, step: Step, detect_timeout: float, resolve_timeout: float) -> StepResult:
        known = {i.id for i in self._incidents()}
        result = StepResult(step, injected_at=time.time())
        for i, changes in enumerate(step.changes):
            if i:
                time.sleep(2.0)  # let the first symptom page before the next one joins
            self.sim.set_faults(**changes)
        incident = self._wait(lambda: self._new(known), detect_timeout)
        if incident is None:
            result.problems.append(f"not detected within {detect_timeout:.0f}s")
            self.sim.reset()
            return result
        self.say(
            f"      detected: incident #{incident.id} {incident.severity} {incident.title} "
            f"({incident.opened_at - result.injected_at:.1f}s after injection)"
        )
        if self._wait(lambda: self._delivered(incident.id), 15) is None:
            result.problems.append("page not delivered")
        else:
            self.say(f"      paged: {self._deliveries(incident.id)}")
        if len(step.rules) > 1:
            # Hold the fault until every symptom has joined: that is what shows one
            # outage making one incident and one page, not one per symptom.
            if self._wait(lambda: step.rules <= self._rules_of(incident.id), detect_timeout) is None:
                result.problems.append(f"not all of {sorted(step.rules)} joined the incident")
            else:
                self.say(f"      joined the same incident: {', '.join(sorted(step.rules))}")
        self.sim.reset()
        result.cleared_at = time.time()
        self.say("      fault removed; waiting for auto-resolve")
        resolved = self._wait(lambda: self._resolved(incident.id), resolve_timeout)
        if resolved is None:
            result.problems.append(f"still open {resolve_timeout:.0f}s after the fault was removed")
        else:
            self.say(f"      resolved after {resolved.resolved_at - result.cleared_at:.1f}s")
        result.incidents = [i for i in self._incidents() if i.id not in known]
        result.problems.extend(self._check(step, result.incidents))
        return result

    def _check(self, step: Step, incidents: list[Incident]) -> list[str]:
        problems = []
        if len(incidents) != 1:
            problems.append(f"expected 1 incident, got {len(incidents)}")
        for inc in incidents:
            rules = self._rules_of(inc.id)
            if inc.severity != step.severity:
                problems.append(f"incident #{inc.id} is {inc.severity}, expected {step.severity}")
            if not rules <= step.rules or not rules & step.rules:
                problems.append(
                    f"incident #{inc.id} raised by {sorted(rules)}, expected {sorted(step.rules)}"
                )
            opens = [r for r in outbox.rows_for_incident(self.daemon.store, inc.id) if r.event == "open"]
            per_receiver = {r.receiver for r in opens}
            if len(opens) != len(per_receiver):
                problems.append(f"incident #{inc.id} paged more than once per receiver")
        return problems

    # -- polling the store -------------------------------------------------------------
    def _incidents(self) -> list[Incident]:
        return incident_rows.list_incidents(self.daemon.store, limit=1000)

    def _new(self, known: set[int]) -> Incident | None:
        fresh = [i for i in self._incidents() if i.id not in known]
        return fresh[-1] if fresh else None

    def _delivered(self, incident_id: int) -> bool | None:
        rows = outbox.rows_for_incident(self.daemon.store, incident_id)
        return True if any(r.status == "sent" and r.event == "open" for r in rows) else None

    def _rules_of(self, incident_id: int) -> set[str]:
        return {a["alertname"] for a in incident_rows.incident_alerts(self.daemon.store, incident_id)}

    def _deliveries(self, incident_id: int) -> str:
        rows = outbox.rows_for_incident(self.daemon.store, incident_id)
        return ", ".join(
            f"{r.receiver} ({r.event}, attempt {r.attempts})" for r in rows if r.status == "sent"
        )

    def _resolved(self, incident_id: int) -> Incident | None:
        inc = incident_rows.get_incident(self.daemon.store, incident_id)
        return inc if inc is not None and inc.resolved_at is not None else None

    @staticmethod
    def _wait(probe: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.2)
        return None


def render_table(results: list[StepResult]) -> str:
    # Measured from the demo's own actions, so named for them: `incidents list` has TTD
    # and TTR from the first symptom (alert pending), which read differently.
    header = ("id", "sev", "title", "opened", "resolved", "fault→open", "fix→resolved", "check")
    lines = []
    for r in results:
        inc = r.incident
        ttd = f"{inc.opened_at - r.injected_at:.1f}s" if inc else "-"
        ttr = f"{inc.resolved_at - r.cleared_at:.1f}s" if inc and inc.resolved_at and r.cleared_at else "-"
        lines.append(
            (
                f"#{inc.id}" if inc else "-",
                inc.severity.name if inc else "-",
                middle_cut(inc.title if inc else r.step.fault, 58),  # keeps "… failing"
                _clock(inc.opened_at) if inc else "-",
                _clock(inc.resolved_at) if inc and inc.resolved_at else "-",
                ttd,
                ttr,
                "ok" if not r.problems else "FAIL: " + "; ".join(r.problems),
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row) for row in [header, *lines])


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(ts))


class DemoStoreError(Exception):
    """The demo cannot make its store where --db says."""


class NotADemoStoreError(DemoStoreError):
    pass


def demo_marker(db: Path) -> Path:
    """Written beside the store the demo creates: only a store with one is replaced."""
    return Path(f"{db}.demo")


def clear_demo_store(db: Path, say: Say) -> None:
    """Remove the previous demo's store. A file the demo did not make is refused, not
    deleted: ``--db /var/lib/triaged/triaged.db`` typed out of habit (every other
    command reads the store given with --db) must not wipe the incident history."""
    if db.exists() and not demo_marker(db).exists():
        raise NotADemoStoreError(
            f"{db} exists and is not a store the demo made (no {demo_marker(db).name} beside it);"
            " the demo recreates its store on every run: give it a new path, or delete this"
            " file if it is an old demo's"
        )
    if db.exists():
        say(f"removing the previous demo store {db}")
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        demo_marker(db).write_text("made by `triaged demo`: replaced on its next run\n", encoding="utf-8")
    except OSError as exc:  # a read-only checkout, a typo in the directory
        raise DemoStoreError(
            f"{db}: cannot make the demo's store there ({exc.strerror}): give --db a path in a"
            " directory you can write"
        ) from exc


def run_demo(db: Path, say: Say, steps: tuple[Step, ...] = STEPS) -> int:
    """Play the game day. Returns the process exit code."""
    clear_demo_store(db, say)
    with Simulator(environment="staging", seed=7, traffic_rps=200.0) as sim, RecordingReceiver() as hook:
        text = demo_config_text(sim.url, db, hook.url)
        cfg = parse_config(load_yaml_text(text, "<demo>"), str(Path.cwd() / "triaged-demo.yaml"))
        daemon = build(cfg)
        runner = Runner(daemon)
        say(f"simulator {sim.url}   webhook receiver {hook.url}   store {db}")
        runner.start()
        try:
            time.sleep(3.0)  # a few scrapes so rates have two points before the first fault
            results = GameDay(daemon, sim, hook, say).run(steps)
        finally:
            runner.stop(flush_s=3.0)
    say("")
    say(render_table(results))
    failed = [r for r in results if r.problems]
    say("")
    if failed:
        say(f"demo FAILED: {len(failed)} of {len(results)} faults not handled correctly")
        return 1
    say(
        f"demo passed: {len(results)} faults detected, paged once, auto-resolved. "
        f"See them again with: triaged incidents list --db {db}"
    )
    return 0
