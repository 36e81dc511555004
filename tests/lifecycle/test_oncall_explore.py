"""What an on-call engineer ran into driving the incident lifecycle through the real CLI
against a real store, at 3 a.m. and at the postmortem the morning after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from triaged.alerts.route import Router
from triaged.cli import cli
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.store import incidents as rows
from triaged.store import open_store

from .conftest import T0, latency, write_summary

if TYPE_CHECKING:
    from conftest import AddIncident

S = IncidentStatus


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_reopen_while_a_newer_incident_of_the_group_is_open_points_at_that_one(
    db: str, add_incident: AddIncident
) -> None:
    store = open_store(db)
    old = add_incident(store, S.RESOLVED)
    new = add_incident(store, S.DETECTED)  # same service: same group, opened since
    store.close()

    result = invoke("incidents", "reopen", str(old.id), "--db", db, "--by", "asha")

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert f"incident #{new.id} is open for the same group" in result.output
    store = open_store(db)
    reopened = rows.get_incident(store, old.id)
    assert reopened is not None and reopened.status is S.RESOLVED
    assert not [e for e in rows.timeline(store, old.id) if e["kind"] == "detected"]


def test_a_blank_by_is_refused_rather_than_recorded_as_a_nameless_author(
    db: str, add_incident: AddIncident, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGED_USER", "asha")
    store = open_store(db)
    inc = add_incident(store, S.DETECTED)
    store.close()

    for command in (
        ("incidents", "ack", str(inc.id)),
        ("incidents", "note", str(inc.id), "rolled back deploy 142"),
        ("silence", "add", "HighLatency", "--for", "1h", "--reason", "db migration"),
    ):
        blank = invoke(*command, "--by", "  ", "--db", db)
        assert blank.exit_code == 2, blank.output
        assert "'--by': is empty: say who, or leave --by out to be recorded as asha" in blank.output

    trimmed = invoke("incidents", "ack", str(inc.id), "--by", " ravi ", "--db", db)
    assert trimmed.exit_code == 0, trimmed.output
    store = open_store(db)
    assert [e["actor"] for e in rows.timeline(store, inc.id)] == ["ravi"]


def _resolved_by_hand_while_firing(db: str) -> None:
    """HighLatency opens incident #1 and still fires (silenced, say) when on-call
    resolves it with --force."""
    store = open_store(db)
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=600))
    svc.sync([latency(T0 - 60)], T0)
    HumanActions(store, Router([])).move(1, S.RESOLVED, "asha", "fix rolled out", T0 + 120, force=True)
    store.close()


def test_a_postmortem_does_not_claim_the_alerts_confirmed_a_recovery_they_did_not(
    db: str, tmp_path: Path
) -> None:
    _resolved_by_hand_while_firing(db)

    drafted = invoke("postmortem", "draft", "1", "--db", db, "--out", str(tmp_path), "--by", "asha")

    assert drafted.exit_code == 0, drafted.output
    md = (tmp_path / "incident-1-postmortem.md").read_text(encoding="utf-8")
    assert "Recovery was confirmed by the alerts clearing" not in md
    went_badly = md.split("## 6. What did not go well")[1].split("## 7.")[0]
    assert "resolved by hand while HighLatency still fired: no alert confirmed the recovery" in went_badly


def test_show_does_not_call_an_alert_of_a_resolved_incident_firing_now(db: str) -> None:
    _resolved_by_hand_while_firing(db)

    shown = invoke("incidents", "show", "1", "--db", db)

    assert shown.exit_code == 0, shown.output
    alerts = shown.output.split("Alerts:")[1].split("\n\n")[0]
    assert "HighLatency  firing at resolve" in alerts
    raw = invoke("incidents", "show", "1", "--db", db, "--json")
    assert [a["state"] for a in json.loads(raw.output)["alerts"]] == ["firing"]  # machine output as stored


def test_check_and_complete_say_which_parts_of_the_postmortem_nobody_wrote(db: str, tmp_path: Path) -> None:
    _resolved_by_hand_while_firing(db)
    assert invoke("postmortem", "draft", "1", "--db", db, "--out", str(tmp_path)).exit_code == 0
    md = tmp_path / "incident-1-postmortem.md"
    write_summary(md)

    checked = invoke("postmortem", "check", "1", "--db", db)
    assert checked.exit_code == 0, checked.output
    assert "still as drafted, nothing written yet: root cause, lessons (write them before completing it)" in (
        checked.output
    )
    done = invoke("postmortem", "complete", "1", "--db", db)
    assert done.exit_code == 0, done.output
    assert (
        "nothing written yet: root cause, lessons (the postmortem was completed without them)" in done.output
    )


def test_ids_pasted_as_printed_or_mistyped_are_not_read_as_something_else(db: str, tmp_path: Path) -> None:
    _resolved_by_hand_while_firing(db)
    assert invoke("postmortem", "draft", "1", "--db", db, "--out", str(tmp_path)).exit_code == 0

    pasted = invoke("postmortem", "check", "#1", "--db", db)  # as `postmortem list` prints it
    assert pasted.exit_code == 0, pasted.output
    assert "no such file" not in pasted.output and "no blameful phrasing found" in pasted.output

    typo = invoke("actions", "list", "--incident", "11", "--db", db)
    assert typo.exit_code == 1 and "no incident #11" in typo.output


def test_a_report_over_no_time_at_all_is_refused_rather_than_reading_all_quiet(db: str) -> None:
    _resolved_by_hand_while_firing(db)

    empty = invoke("report", "--since", "0d", "--db", db)

    assert empty.exit_code == 2, empty.output
    assert "'0d' is no time at all: give a period such as 7d" in empty.output
    assert "Incidents in the last" not in empty.output


def test_an_alert_that_clears_after_a_hand_resolve_gets_its_clear_time_recorded(
    db: str, tmp_path: Path
) -> None:
    """Resolved by hand at T0+120 while HighLatency fired; with no reopen window the
    still-firing alert opens #2 instead. It clears at T0+420: #1 records that clear
    (late), and the postmortem still says no alert confirmed #1's recovery."""
    store = open_store(db)
    svc = IncidentService(store, Router([]), IncidentPolicy(resolve_hold_s=300, reopen_window_s=0))
    svc.sync([latency(T0 - 60)], T0)
    HumanActions(store, Router([])).move(1, S.RESOLVED, "asha", "fix rolled out", T0 + 120, force=True)
    svc.sync([latency(T0 - 60)], T0 + 300)  # still firing: nothing to record on #1 yet
    assert [a["state"] for a in rows.incident_alerts(store, 1)] == ["firing"]
    assert rows.get_incident(store, 2) is not None

    svc.sync([], T0 + 420)

    [alert] = rows.incident_alerts(store, 1)
    assert (alert["state"], alert["resolved_at"]) == ("resolved", T0 + 420)
    late = [e for e in rows.timeline(store, 1) if e["kind"] == "alert_resolved_late"]
    assert [e["message"] for e in late] == ["HighLatency resolved 5m after the incident was resolved"]
    svc.sync([], T0 + 430)  # recorded once, not on every tick
    assert len([e for e in rows.timeline(store, 1) if e["kind"] == "alert_resolved_late"]) == 1
    store.close()
    drafted = invoke("postmortem", "draft", "1", "--db", db, "--out", str(tmp_path), "--by", "asha")
    assert drafted.exit_code == 0, drafted.output
    md = (tmp_path / "incident-1-postmortem.md").read_text(encoding="utf-8")
    assert "Recovery was confirmed by the alerts clearing" not in md
    assert "HighLatency resolved 5m after the incident was resolved" in md  # on its timeline


def test_a_postmortem_nobody_wrote_is_not_completed_without_force(db: str, tmp_path: Path) -> None:
    _resolved_by_hand_while_firing(db)
    assert invoke("postmortem", "draft", "1", "--db", db, "--out", str(tmp_path)).exit_code == 0

    refused = invoke("postmortem", "complete", "1", "--db", db)

    assert refused.exit_code == 1
    assert "nothing written yet" in refused.output and "--force" in refused.output
    store = open_store(db)
    assert rows.get_incident(store, 1).status is S.POSTMORTEM  # type: ignore[union-attr]
    store.close()
    forced = invoke("postmortem", "complete", "1", "--db", db, "--force")
    assert forced.exit_code == 0, forced.output
    assert "nothing written yet: summary, root cause, lessons" in forced.output
