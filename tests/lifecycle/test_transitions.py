"""The incident lifecycle as one table: every (state, target) pair is either allowed and
stamped, or refused with an error that names the allowed moves."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from triaged.alerts.route import Router
from triaged.cli import cli
from triaged.incidents.human import HumanActions
from triaged.incidents.model import VERBS, Incident, IncidentStatus, TransitionError, transition
from triaged.model import Severity
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import T0, MakeIncident

S = IncidentStatus
# Written out by hand: the table in model.py must say exactly this.
EXPECTED = {
    S.DETECTED: {S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED},
    S.ACKNOWLEDGED: {S.INVESTIGATING, S.MITIGATED, S.RESOLVED},
    S.INVESTIGATING: {S.MITIGATED, S.RESOLVED},
    S.MITIGATED: {S.INVESTIGATING, S.RESOLVED},
    S.RESOLVED: {S.POSTMORTEM, S.CLOSED, S.DETECTED},
    S.POSTMORTEM: {S.CLOSED, S.DETECTED},
    S.CLOSED: set(),
}


def fresh(status: IncidentStatus) -> Incident:
    return Incident(1, "g", "api", "t", Severity.P1, status, T0, T0, T0, resolved_at=T0 + 1)


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_pair_of_states(source: IncidentStatus, target: IncidentStatus) -> None:
    inc = fresh(source)
    if target in EXPECTED[source]:
        transition(inc, target, T0 + 100)
        assert inc.status is target and inc.updated_at == T0 + 100
        if target is S.DETECTED:
            assert inc.reopen_count == 1 and inc.resolved_at is None
        else:
            assert getattr(inc, f"{target.value}_at") == T0 + 100
    else:
        with pytest.raises(
            TransitionError, match=f"is {source}: {VERBS[target]} is not possible now \\(next: "
        ):
            transition(inc, target, T0 + 100)
        assert inc.status is source


def test_human_moves_record_who_and_why_on_the_timeline(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident(status=S.DETECTED)
    actions = HumanActions(store, Router([]))
    actions.move(inc.id, S.ACKNOWLEDGED, "alice", "looking", T0 + 120)
    actions.move(inc.id, S.MITIGATED, "alice", "rolled back", T0 + 300)
    entries = [
        (e["kind"], e["actor"], e["data"].get("reason"), e["at"]) for e in rows.timeline(store, inc.id)
    ]
    assert entries == [
        ("acknowledged", "alice", "looking", T0 + 120),
        ("mitigated", "alice", "rolled back", T0 + 300),
    ]


def test_cli_refuses_an_invalid_move_with_a_clear_message(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident(status=S.CLOSED)
    result = CliRunner().invoke(cli, ["incidents", "ack", str(inc.id), "--db", store.path])
    assert result.exit_code == 1
    assert f"incident #{inc.id} is closed: ack is not possible now (next: none)" in result.output


def test_assign_and_severity_are_timestamped_with_who_and_why(
    store: Store, make_incident: MakeIncident
) -> None:
    inc = make_incident(status=S.ACKNOWLEDGED, severity=Severity.P2)
    runner = CliRunner()
    r = runner.invoke(
        cli, ["incidents", "assign", str(inc.id), "carol", "-m", "IC", "--by", "bob", "--db", store.path]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli, ["incidents", "severity", str(inc.id), "critical", "-m", "checkout down", "--db", store.path]
    )
    assert r.exit_code == 0 and "is now P0" in r.output
    r = runner.invoke(cli, ["incidents", "severity", str(inc.id), "P9", "--db", store.path])
    assert r.exit_code == 2
    after = rows.get_incident(store, inc.id)
    assert after is not None and after.assignee == "carol" and after.severity is Severity.P0
    kinds = [(e["kind"], e["actor"], e["message"]) for e in rows.timeline(store, inc.id)]
    assert kinds[0] == ("assigned", "bob", "assigned to carol: IC")
    assert kinds[1][0] == "severity" and kinds[1][2] == "severity raised P2 → P0: checkout down"
    shown = runner.invoke(cli, ["incidents", "show", str(inc.id), "--db", store.path, "--json"])
    assert '"assignee": "carol"' in shown.output
    listed = runner.invoke(cli, ["incidents", "list", "--db", store.path, "--json"])
    assert '"severity": "P0"' in listed.output
