"""What an on-call engineer ran into driving the incident lifecycle through the real CLI
against a real store, at 3 a.m. and at the postmortem the morning after."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
