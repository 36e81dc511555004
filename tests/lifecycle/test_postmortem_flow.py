"""Drafting on a stored incident without evidence, blameless flags, completion, and the
list of late postmortems."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from triaged.alerts.route import Route, Router
from triaged.cli import cli
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem import gather
from triaged.incidents.postmortem_due import PostmortemPolicy, postmortems_owed
from triaged.incidents.postmortem_values import alert_values
from triaged.incidents.reminders import ReminderPolicy, send_reminders
from triaged.messages import Event
from triaged.model import Severity
from triaged.store import Store
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows

from .conftest import T0, MakeIncident, write_summary


def test_draft_flags_blame_in_notes_and_completion_waits_for_a_blameless_text(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    rows.add_timeline(
        store, inc.id, inc.opened_at + 30, "note", "root cause: human error by dave", actor="erin"
    )
    runner = CliRunner()
    db = ["--db", store.path]
    out = tmp_path / "pm"
    r = runner.invoke(cli, ["postmortem", "draft", str(inc.id), "--out", str(out), "--by", "erin", *db])
    assert r.exit_code == 0, r.output
    assert "no evidence was recorded" in r.output and "1 blameful phrase(s)" in r.output
    md = (out / f"incident-{inc.id}-postmortem.md").read_text()
    assert "## Blameless review" in md and '"human error"' in md
    assert (rows.get_incident(store, inc.id) or inc).status is IncidentStatus.POSTMORTEM

    check = runner.invoke(cli, ["postmortem", "check", str(inc.id), *db])
    assert check.exit_code == 1 and "human error" in check.output
    refused = runner.invoke(cli, ["postmortem", "complete", str(inc.id), *db])
    assert refused.exit_code == 1 and "reword it, or use --force" in refused.output

    # The author rewrites the review in systems terms.
    text = md.split("## Blameless review")[0].replace("human error by dave", "a setting nothing validated")
    (out / f"incident-{inc.id}-postmortem.md").write_text(text)
    unwritten = runner.invoke(cli, ["postmortem", "complete", str(inc.id), "--by", "erin", *db])
    assert unwritten.exit_code == 1 and "nothing written yet" in unwritten.output
    write_summary(out / f"incident-{inc.id}-postmortem.md")
    done = runner.invoke(cli, ["postmortem", "complete", str(inc.id), "--by", "erin", *db])
    assert done.exit_code == 0, done.output
    assert (rows.get_incident(store, inc.id) or inc).status is IncidentStatus.CLOSED


def test_list_due_shows_late_p0_p1_postmortems_only(store: Store, make_incident: MakeIncident) -> None:
    hours_ago = time.time() - 50 * 3600
    late = make_incident(severity=Severity.P0)
    late.resolved_at = hours_ago
    rows.update_incident(store, late)
    fresh = make_incident(severity=Severity.P1)
    fresh.resolved_at = time.time() - 3600
    rows.update_incident(store, fresh)
    minor = make_incident(severity=Severity.P3)
    minor.resolved_at = hours_ago
    rows.update_incident(store, minor)
    runner = CliRunner()
    due = runner.invoke(cli, ["postmortem", "list", "--due", "--db", store.path])
    assert (
        f"#{late.id}" in due.output and f"#{fresh.id}" not in due.output and f"#{minor.id}" not in due.output
    )
    everything = runner.invoke(cli, ["postmortem", "list", "--db", store.path, "--json"])
    assert '"status": "late"' in everything.output and '"status": "due"' in everything.output
    assert f'"incident": {minor.id}' not in everything.output


def test_a_fresh_draft_passes_check_once_the_blameful_note_is_reworded(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    """The draft's own Blameless review (the quoted phrase, the advice) must not fail
    the check: rewording the note in the timeline is enough, as the draft says."""
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    rows.add_timeline(
        store, inc.id, inc.opened_at + 30, "note", "we should have raised the timeout", actor="erin"
    )
    runner = CliRunner()
    db = ["--db", store.path]
    r = runner.invoke(cli, ["postmortem", "draft", str(inc.id), "--out", str(tmp_path), *db])
    assert r.exit_code == 0 and "1 blameful phrase(s)" in r.output, r.output
    md = tmp_path / f"incident-{inc.id}-postmortem.md"
    text = md.read_text()
    assert '"we should have"' in text and "## Blameless review" in text
    failing = runner.invoke(cli, ["postmortem", "check", str(inc.id), *db])
    assert failing.exit_code == 1 and failing.output.count("we should have") == 1  # the timeline row only
    md.write_text(
        text.replace("we should have raised the timeout", "the timeout was not raised: no runbook step")
    )
    check = runner.invoke(cli, ["postmortem", "check", str(inc.id), *db])
    assert check.exit_code == 0, check.output
    write_summary(md)
    assert runner.invoke(cli, ["postmortem", "complete", str(inc.id), *db]).exit_code == 0


def test_worst_value_of_an_equality_alert_is_the_value_it_fired_on(
    store: Store, make_incident: MakeIncident
) -> None:
    """`probe_success == 0` is worst at 0, not at the healthy 1 around it; `!=` at the
    status it fired on; `>` still at its highest."""
    inc = make_incident(resolved_at=400.0)
    cases = [
        ("ServiceDown", "==", 0.0, [1, 1, 0, 0, 0, 1], 0.0),
        ("BadStatus", "!=", 200.0, [200, 200, 503, 503, 502, 200], 503.0),
        ("HighLatency", ">", 1.0, [0.5, 0.9, 1.4, 2.5, 1.2, 0.4], 2.5),
    ]
    for name, op, threshold, values, _ in cases:
        rows.upsert_incident_alert(
            store,
            inc.id,
            {
                "fingerprint": name, "alertname": name, "labels": {"alertname": name, "service": "api"},
                "annotations": {}, "severity": "P1", "state": "resolved", "expr": f"m {op} {threshold}",
                "active_at": T0 + 100, "fired_at": T0 + 200, "resolved_at": T0 + 300, "value": values[3],
            },
        )  # fmt: skip
        series = ev_rows.ensure_series(
            store, inc.id, alertname=name, expr="m", role="value", labels={"service": "api"},
            op=op, threshold=threshold,
        )  # fmt: skip
        ev_rows.add_points(store, series, [(T0 + 100 * i, float(v)) for i, v in enumerate(values)])
    facts = gather(store, inc.id, T0 + 1000)
    worst = {a["alertname"]: alert_values(facts, a)["worst"] for a in facts.alerts}
    assert worst == {name: expected for name, _, _, _, expected in cases}


def test_closing_an_incident_that_owes_a_postmortem_needs_a_stated_waiver(
    store: Store, make_incident: MakeIncident
) -> None:
    owes = make_incident(severity=Severity.P1, resolved_at=600.0)
    minor = make_incident(severity=Severity.P3, resolved_at=600.0)
    runner = CliRunner()
    db = ["--db", store.path]
    refused = runner.invoke(cli, ["incidents", "close", str(owes.id), "-m", "done", *db])
    assert (
        refused.exit_code == 1
        and "owes a postmortem" in refused.output
        and "--no-postmortem" in refused.output
    )
    bare = runner.invoke(cli, ["incidents", "close", str(owes.id), "--no-postmortem", *db])
    assert bare.exit_code == 1 and "needs a reason" in bare.output
    assert (rows.get_incident(store, owes.id) or owes).status is IncidentStatus.RESOLVED
    assert runner.invoke(cli, ["incidents", "close", str(minor.id), *db]).exit_code == 0

    why = "duplicate of #7, reviewed there"
    closed = runner.invoke(cli, ["incidents", "close", str(owes.id), "--no-postmortem", "-m", why, *db])
    assert closed.exit_code == 0, closed.output
    assert (rows.get_incident(store, owes.id) or owes).status is IncidentStatus.CLOSED
    waived = [e for e in rows.timeline(store, owes.id) if e["kind"] == "postmortem_waived"]
    assert [(e["actor"] != "triaged", why in e["message"]) for e in waived] == [(True, True)]
    # No longer owed: not listed as due or late, and no more reminders.
    assert postmortems_owed(store, T0 + 10 * 86_400, PostmortemPolicy()) == []
    router = Router([Route("pager", events=frozenset({Event.REMINDER}))])
    assert send_reminders(store, router, T0 + 10 * 86_400, ReminderPolicy(), PostmortemPolicy()) == 0
    listed = runner.invoke(cli, ["postmortem", "list", "--json", *db])
    assert '"status": "waived"' in listed.output


def test_a_late_postmortem_is_still_owed_after_a_thousand_newer_incidents(
    store: Store, make_incident: MakeIncident
) -> None:
    """A busy team: the P0 of March still owes its postmortem after 1,200 minor incidents
    since; the reminders, the report and `postmortem list --due` must keep naming it."""
    old = make_incident(severity=Severity.P0)
    old.resolved_at = time.time() - 30 * 86_400
    rows.update_incident(store, old)
    with store.atomic():
        for _ in range(1200):
            make_incident(severity=Severity.P3, resolved_at=100.0)
    owed = postmortems_owed(store, time.time(), PostmortemPolicy())
    assert [o.incident.id for o in owed] == [old.id] and owed[0].late
    due = CliRunner().invoke(cli, ["postmortem", "list", "--due", "--db", store.path])
    assert f"#{old.id}" in due.output
