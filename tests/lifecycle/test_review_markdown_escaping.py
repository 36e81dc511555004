"""What people and alerts wrote cannot break the draft's Markdown: a `|` in an action
title or a label value stays inside its cell, and raw HTML (a `<!--` in a note) is
shown as text instead of hiding the rows after it from readers and from the check."""

from __future__ import annotations

from pathlib import Path

from triaged.incidents.blameless import scan
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.postmortem import cell, gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.model import Severity
from triaged.store import Store
from triaged.store import incidents as rows

from .conftest import T0, MakeIncident


def _row_of(md: str, needle: str) -> str:
    (line,) = [line for line in md.splitlines() if needle in line]
    return line


def _cells(row: str) -> int:
    """How many cells a GitHub-flavoured Markdown row has (an escaped `\\|` does not split)."""
    return len(row.replace("\\|", "").strip().strip("|").split("|"))


def test_pipes_in_titles_and_label_values_stay_in_their_cell(
    store: Store, make_incident: MakeIncident
) -> None:
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    title = "Alert on 5xx | 4xx ratio above two percent"
    FollowUp(store).add(inc.id, NewItem(title, "ravi", "7d", "high", "monitoring"), "lead", T0 + 700)
    rows.upsert_incident_alert(
        store,
        inc.id,
        {
            "fingerprint": "f1", "alertname": "HighErrors",
            "labels": {"alertname": "HighErrors", "route": "/api/a|/api/b", "service": "api"},
            "annotations": {}, "severity": "P1", "state": "resolved", "expr": "m > 1",
            "active_at": T0 + 10, "fired_at": T0 + 60, "resolved_at": T0 + 300, "value": 2.0,
        },
    )  # fmt: skip
    md = render(gather(store, inc.id, T0 + 800), PostmortemPolicy(), None)
    assert _cells(_row_of(md, "| ravi |")) == 7
    assert _cells(_row_of(md, "| HighErrors |")) == 6
    assert "route=/api/a\\|/api/b" in md


def test_a_comment_opened_in_a_note_does_not_hide_what_follows(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    rows.add_timeline(
        store, inc.id, T0 + 100, "note", "checked <!-- the dashboards\nand <b>logs</b>", actor="asha"
    )
    rows.add_timeline(store, inc.id, T0 + 200, "note", "root cause: human error on the deploy", actor="erin")
    md = render(gather(store, inc.id, T0 + 800), PostmortemPolicy(), None)
    assert "<!-- the dashboards" not in md and "<b>" not in md
    note = _row_of(md, "checked &lt;!-- the dashboards and &lt;b&gt;logs&lt;/b&gt;")
    assert _cells(note) == 4
    # The check (which skips comments) still sees the note after it.
    body = md.split("## Blameless review")[0]
    assert [f.phrase for f in scan(body)] == ["human error"]


def test_cell_escapes_pipes_angle_brackets_and_newlines() -> None:
    assert cell("a|b\r\n<c>\nd") == "a\\|b &lt;c&gt; d"
