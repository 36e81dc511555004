"""Drafting the postmortem does not stop an incident from reopening: a recurrence within
the reopen window reopens it, on-call can reopen it by hand, and the draft drafted again
afterwards tells of the reopen instead of claiming there was none."""

from __future__ import annotations

from pathlib import Path

from triaged.alerts.route import Route, Router
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.postmortem_ops import write_draft
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import T0, latency

S = IncidentStatus


def _resolved_and_drafted(store: Store, svc: IncidentService, out: Path) -> None:
    svc.sync([latency(T0 - 60)], T0)
    for t in range(60, 600, 60):
        svc.sync([], T0 + t)
    assert (rows.get_incident(store, 1) or _missing()).status is S.RESOLVED
    write_draft(store, 1, out, actor="erin", now=T0 + 900, policy=PostmortemPolicy())
    assert (rows.get_incident(store, 1) or _missing()).status is S.POSTMORTEM


def _missing() -> object:
    raise AssertionError("incident #1 is missing")


def test_a_recurrence_reopens_a_drafted_incident_and_the_redraft_says_so(
    store: Store, tmp_path: Path
) -> None:
    svc = IncidentService(
        store, Router([Route("pager")]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=3600)
    )
    out = tmp_path / "pm"
    _resolved_and_drafted(store, svc, out)
    before = (out / "incident-1-postmortem.md").read_text()
    assert "the incident did not reopen" in before

    svc.sync([latency(T0 + 1200)], T0 + 1260)  # back within the reopen window
    assert [i.id for i in rows.list_incidents(store)] == [1], "the same incident, not a new one"
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.status is S.DETECTED and inc.reopen_count == 1
    reopened = [e for e in rows.timeline(store, 1) if e["kind"] == "reopened"]
    assert "postmortem draft predates this reopen" in reopened[-1]["message"]

    for t in range(1320, 1800, 60):
        svc.sync([], T0 + t)
    write_draft(store, 1, out, actor="erin", now=T0 + 2000, policy=PostmortemPolicy(), force=True)
    after = (out / "incident-1-postmortem.md").read_text()
    assert "the incident did not reopen" not in after
    assert "| Reopened | 1 time(s): see lifetimes below |" in after


def test_a_drafted_incident_can_be_reopened_by_hand(store: Store, tmp_path: Path) -> None:
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=3600))
    _resolved_and_drafted(store, svc, tmp_path / "pm")
    moved = HumanActions(store, Router([])).move(
        1, S.DETECTED, "asha", "customers still see errors", T0 + 1000
    )
    assert moved.status is S.DETECTED and moved.reopened_by == "asha"
    entry = rows.timeline(store, 1)[-1]
    assert entry["kind"] == "detected" and "postmortem draft predates this reopen" in entry["message"]
