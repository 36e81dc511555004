"""Drafting again never orphans an edited draft: from another working directory it
redrafts the recorded file (refused without --force), a draft recorded elsewhere or a
completed postmortem is refused naming the recorded path, and paths are absolute."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.model import Severity
from triaged.store import Store
from triaged.store import postmortems as pm_rows

from .conftest import MakeIncident, write_summary


def _draft(store: Store, incident_id: int, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["postmortem", "draft", str(incident_id), "--db", store.path, *args])
    return r.exit_code, r.output


def _edited_draft(
    store: Store, make_incident: MakeIncident, where: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, Path]:
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    where.mkdir()
    monkeypatch.chdir(where)
    code, out = _draft(store, inc.id)  # default folder: ./postmortems
    assert code == 0, out
    md = where / "postmortems" / f"incident-{inc.id}-postmortem.md"
    write_summary(md, "Hours of edits.")
    record = pm_rows.get(store, inc.id)
    assert record is not None and record["path"] == str(md.resolve()) and Path(record["path"]).is_absolute()
    return inc.id, md


def test_drafting_from_another_directory_does_not_start_a_blank_draft(
    store: Store, make_incident: MakeIncident, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, md = _edited_draft(store, make_incident, tmp_path / "a", monkeypatch)
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    code, out = _draft(store, incident_id)
    assert code == 1 and str(md.resolve()) in out and "--force" in out
    assert not (tmp_path / "b" / "postmortems").exists()
    # --force from there redrafts the recorded file in place, keeping the edits as .bak.
    code, out = _draft(store, incident_id, "--force")
    assert code == 0, out
    assert f"wrote {md.resolve()}" in out
    (backup,) = md.parent.glob("*.bak")
    assert "Hours of edits." in backup.read_text()


def test_a_draft_recorded_elsewhere_is_not_orphaned_without_force(
    store: Store, make_incident: MakeIncident, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, md = _edited_draft(store, make_incident, tmp_path / "a", monkeypatch)
    other = tmp_path / "other"
    code, out = _draft(store, incident_id, "--out", str(other))
    assert code == 1 and out.count("\n") == 1, out
    assert f"a draft is already recorded at {md.resolve()}" in out
    record = pm_rows.get(store, incident_id)
    assert record is not None and record["path"] == str(md.resolve())
    code, out = _draft(store, incident_id, "--out", str(other), "--force")
    assert code == 0, out
    record = pm_rows.get(store, incident_id)
    assert record is not None and record["path"] == str((other / md.name).resolve())
    assert "Hours of edits." in md.read_text(), "the old draft is left where it was"


def test_a_completed_postmortem_is_not_drafted_again_without_force(
    store: Store, make_incident: MakeIncident, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, md = _edited_draft(store, make_incident, tmp_path / "a", monkeypatch)
    done = CliRunner().invoke(cli, ["postmortem", "complete", str(incident_id), "--db", store.path])
    assert done.exit_code == 0, done.output
    md.unlink()  # even with the file gone, the record says the postmortem is done
    code, out = _draft(store, incident_id)
    assert code == 1 and f"the postmortem is complete ({md.resolve()})" in out
    assert not md.exists()
