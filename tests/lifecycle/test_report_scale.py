"""`triaged report` over a noisy period: more incidents than any one query should hold.

A flapping rule opening hundreds of incidents a day fills a month with tens of
thousands. The report must count every one of them (not the newest 10,000 without a
word), read them a page at a time, and look up their pages, flaps and resolvers per
page rather than per incident.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.report import build_report
from triaged.store import Store

from .conftest import T0

DAY = 86_400.0
N = 12_000  # in the period: more than the 10,000 the report used to stop at
OLDEST = 1_500  # the first incidents of the period are the only ones of rule "Legacy"
BEFORE = 5  # opened the day before the period: not in its figures
STEP = 200.0  # one incident every 200 s: 432 a day
SINCE = T0 - 1
NOW = T0 + N * STEP + 1_000


@dataclass(frozen=True)
class Spec:
    """One generated incident, described in the terms of the expected figures."""

    i: int

    @property
    def opened(self) -> float:
        return T0 + self.i * STEP

    @property
    def rule(self) -> str:
        if self.i < OLDEST:
            return "Legacy"
        return "Disk" if self.i % 4 == 0 else "Flapping"

    @property
    def severity(self) -> str:
        return "P1" if self.i % 10 == 0 else "P3"

    @property
    def acked(self) -> bool:
        return self.i % 2 == 0

    @property
    def reopens(self) -> int:
        return 1 if self.i % 5 == 0 else 0

    @property
    def returned(self) -> bool:  # an alert came back during the resolve hold
        return self.i % 7 == 0


SPECS = [Spec(i) for i in range(N)]


def fill(store: Store) -> None:
    """Insert the period's incidents, their pages (one per incident, to two receivers)
    and timeline entries in one transaction, straight into the tables."""
    incidents = [
        (f"rule={s.rule}", "api", f"{s.rule} on api", s.severity, "resolved", s.rule,
         s.opened - 30, s.opened, s.opened + 60 if s.acked else None, s.opened + 120,
         s.reopens, s.opened + 120)
        for s in SPECS
    ] + [
        ("rule=Before", "api", "Before on api", "P3", "resolved", "Before",
         T0 - DAY, T0 - DAY + 10, None, T0 - DAY + 20, 0, T0 - DAY + 20)
        for _ in range(BEFORE)
    ]  # fmt: skip
    outbox = [
        (s.i + 1, "open", receiver, f"open-{s.i}", "{}", "sent", s.opened, s.opened)
        for s in SPECS
        for receiver in ("pager", "log")
    ]
    timeline = [
        (s.i + 1, s.opened + 120, "resolved", "alice" if s.acked else "triaged", "resolved") for s in SPECS
    ]
    timeline += [(s.i + 1, s.opened + 90, "alert_returned", "triaged", "again") for s in SPECS if s.returned]
    with store.atomic() as db:
        db.conn.executemany(
            "INSERT INTO incidents (group_key, service, title, severity, status, rule, detected_at,"
            " opened_at, acknowledged_at, resolved_at, reopen_count, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            incidents,
        )
        db.conn.executemany(
            "INSERT INTO outbox (incident_id, event, receiver, dedup_key, payload, status, created_at, due_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            outbox,
        )
        db.conn.executemany(
            "INSERT INTO timeline (incident_id, at, kind, actor, message) VALUES (?, ?, ?, ?, ?)", timeline
        )


@pytest.fixture
def noisy(store: Store) -> Store:
    fill(store)
    return store


def test_every_incident_of_a_noisy_period_is_counted(noisy: Store) -> None:
    queries: list[str] = []
    noisy.db.conn.set_trace_callback(queries.append)
    started = time.perf_counter()
    r = build_report(noisy, SINCE, NOW, PostmortemPolicy())
    took = time.perf_counter() - started
    noisy.db.conn.set_trace_callback(None)
    selects = [q for q in queries if q.lstrip().upper().startswith("SELECT")]
    print(f"\nreport of {N} incidents: {took:.2f} s, {len(selects)} queries")

    assert r.incidents == N
    assert r.by_severity == dict(sorted(Counter(s.severity for s in SPECS).items()))
    assert r.mttd.count == N and r.mttd.median == 30.0
    assert r.mtta.count == sum(s.acked for s in SPECS) and r.mtta.median == 60.0
    assert r.mttr.count == N and r.still_open == 0
    noise = {n.rule: n for n in r.noise}
    assert set(noise) == {"Legacy", "Disk", "Flapping"}
    for rule, n in noise.items():
        mine = [s for s in SPECS if s.rule == rule]
        assert n.incidents == len(mine)
        assert n.pages == len(mine)  # two receivers, one page each
        assert n.flaps == sum(s.reopens + s.returned for s in mine)
        assert n.auto_resolved_unacked == sum(not s.acked for s in mine)
        assert n.time_to_ack.count == sum(s.acked for s in mine)
    assert took < 20, f"the report of {N} incidents took {took:.1f} s"
    # Looked up a page of incidents at a time: a few queries per page, not per incident.
    assert len(selects) < 200, f"{len(selects)} queries for {N} incidents"


def test_the_oldest_incidents_of_the_period_count_per_rule(noisy: Store) -> None:
    """Rule "Legacy" fired only in the first days of the period, before the newest
    10,000 incidents: its noise is still reported, and in full."""
    r = build_report(noisy, SINCE, NOW, PostmortemPolicy())
    (legacy,) = (n for n in r.noise if n.rule == "Legacy")
    assert (legacy.incidents, legacy.pages) == (OLDEST, OLDEST)
    assert legacy.flaps == sum(s.reopens + s.returned for s in SPECS[:OLDEST])
    # The very first incident of the period is in it, the one before the period is not.
    shorter = build_report(noisy, T0 + STEP - 1, NOW, PostmortemPolicy())
    assert shorter.incidents == N - 1
    assert {n.rule: n.incidents for n in shorter.noise}["Legacy"] == OLDEST - 1


def test_the_cli_reports_all_of_them_in_text_and_json(noisy: Store) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "--since", "10000d", "--db", noisy.path, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["incidents"] == N + BEFORE
    assert sum(n["incidents"] for n in data["noise"]) == N + BEFORE
    text = runner.invoke(cli, ["report", "--since", "10000d", "--db", noisy.path])
    assert text.exit_code == 0, text.output
    assert f"Incidents in the last 10000d: {N + BEFORE} (" in text.output
    assert "newest" not in text.output  # no cap, so nothing to own up to
