"""Drafting on a stored incident without evidence, blameless flags, completion, and the
list of late postmortems."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.model import IncidentStatus
from triaged.model import Severity
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import MakeIncident


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
