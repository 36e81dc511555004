"""A hand reopen is not a flap: the draft says on-call reopened it (and why), the
report counts it apart from flaps, and the chart marks it "reopened by hand" rather
than "firing". Alerts coming back still count as a flap."""

from __future__ import annotations

from triaged.alerts.route import Router
from triaged.incidents.chart import HAND_REOPEN
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.postmortem_values import markers
from triaged.incidents.report import build_report
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import T0, latency

S = IncidentStatus


def _resolved(svc: IncidentService, start: float) -> None:
    for t in range(60, 600, 60):
        svc.sync([], start + t)


def test_a_hand_reopen_is_told_apart_from_a_flap(store: Store) -> None:
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=3600))
    svc.sync([latency(T0 - 60)], T0)
    _resolved(svc, T0)
    human = HumanActions(store, Router([]))
    human.move(1, S.DETECTED, "asha", "customers still see errors", T0 + 1000)
    human.move(1, S.RESOLVED, "asha", "fixed the cache", T0 + 1600)
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.reopen_count == 1

    md = render(gather(store, 1, T0 + 2000), PostmortemPolicy(), None)
    assert "flapped" not in md
    assert (
        "On-call reopened it by hand 1 time(s) while no alert fired (asha: customers still see errors)" in md
    )

    (noise,) = build_report(store, T0 - 86_400, T0 + 2000, PostmortemPolicy()).noise
    assert (noise.flaps, noise.hand_reopens) == (0, 1)

    labels = [m.label for m in markers(inc)]
    assert labels == ["detected", "firing", "resolved", HAND_REOPEN, "resolved"]


def test_alerts_coming_back_are_still_a_flap(store: Store) -> None:
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=3600))
    svc.sync([latency(T0 - 60)], T0)
    _resolved(svc, T0)
    svc.sync([latency(T0 + 1000)], T0 + 1060)
    _resolved(svc, T0 + 1060)
    md = render(gather(store, 1, T0 + 2000), PostmortemPolicy(), None)
    assert "reopened 1 time(s) when its alerts returned: the fix or the alert flapped" in md
    assert "reopened it by hand" not in md
    (noise,) = build_report(store, T0 - 86_400, T0 + 2000, PostmortemPolicy()).noise
    assert (noise.flaps, noise.hand_reopens) == (1, 0)
    inc = rows.get_incident(store, 1)
    assert inc is not None and HAND_REOPEN not in [m.label for m in markers(inc)]
