"""What an on-call engineer ran into driving the incident lifecycle through the real CLI
against a real store, at 3 a.m. and at the postmortem the morning after."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.incidents.model import IncidentStatus
from triaged.store import incidents as rows
from triaged.store import open_store

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
