"""Action items: refused unless specific, owned, dated and prioritised; closed only
once verified."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.actions import ACTION_ALLOWED, ActionError, ActionStatus, parse_due, validate_new
from triaged.incidents.followup import FollowUp, NewItem
from triaged.store import Store
from triaged.store import actions as action_rows
from triaged.store import incidents as rows

from .conftest import T0, MakeIncident

GOOD = NewItem("Add DB_POOL_MAX to the startup config validation", "alice", "7d", "high", "immediate")


def reasons(**changes: str | None) -> list[str]:
    fields = {
        "title": GOOD.title,
        "owner": GOOD.owner,
        "due": GOOD.due,
        "priority": "high",
        "kind": "process",
    }
    fields.update(changes)
    with pytest.raises(ActionError) as err:
        validate_new(now=T0, **fields)  # type: ignore[arg-type]
    return err.value.reasons


def test_a_specific_owned_dated_item_is_accepted() -> None:
    assert validate_new(
        title=GOOD.title, owner="alice", due="7d", priority="low", kind="monitoring", now=T0
    ) == (T0 + 7 * 86400)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"owner": None}, "needs an owner"),
        ({"owner": "TBD"}, "needs an owner"),
        ({"due": None}, "needs a due date"),
        ({"due": "someday"}, "is not a date"),
        ({"due": "2020-01-01"}, "in the past"),
        ({"title": "fix it"}, "not specific"),
        ({"title": "Be more careful when deploying to production"}, "instead of changing the system"),
        ({"title": "Look into the database pool issue"}, "inquiry, not a change"),
        ({"priority": "urgent"}, "priority must be one of high, medium, low"),
        ({"kind": "later"}, "type must be one of immediate"),
    ],
)
def test_vague_unowned_or_undated_items_are_refused_with_the_reason(
    changes: dict[str, str], expected: str
) -> None:
    assert any(expected in r for r in reasons(**changes))


def test_every_problem_is_reported_at_once() -> None:
    assert len(reasons(title="fix it", owner=None, due=None)) >= 3


def test_due_dates() -> None:
    midnight = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert parse_due("2026-12-01", T0) == midnight + 86_399  # the end of that day, UTC
    assert parse_due("2026-12-01T09:30", T0) == midnight + 9.5 * 3600
    assert parse_due("2w", T0) == T0 + 14 * 86400


def test_done_needs_verification_before_it_counts_as_closed(
    store: Store, make_incident: MakeIncident
) -> None:
    inc = make_incident()
    follow = FollowUp(store)
    item = follow.add(inc.id, GOOD, "bob", T0)
    with pytest.raises(ActionError, match="mark it done first"):
        follow.move(item.id, ActionStatus.VERIFIED, "carol", T0 + 10)
    follow.move(item.id, ActionStatus.IN_PROGRESS, "alice", T0 + 20)
    done = follow.move(item.id, ActionStatus.DONE, "alice", T0 + 30, note="PR 42")
    assert not done.closed
    verified = follow.move(item.id, ActionStatus.VERIFIED, "carol", T0 + 40)
    assert verified.closed and verified.verified_by == "carol"
    kinds = [e["kind"] for e in rows.timeline(store, inc.id)]
    assert kinds == ["action_added", "action_in_progress", "action_done", "action_verified"]
    assert ACTION_ALLOWED[ActionStatus.VERIFIED] == frozenset()


def test_cli_add_list_and_verify(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident()
    runner = CliRunner()
    db = ["--db", store.path]
    refused = runner.invoke(cli, ["actions", "add", str(inc.id), "--title", "fix it", *db])
    assert refused.exit_code == 1
    assert "action item refused" in refused.output and "needs an owner" in refused.output
    assert "needs a due date" in refused.output and "not specific" in refused.output
    ok = runner.invoke(
        cli,
        [
            "actions",
            "add",
            str(inc.id),
            "--title",
            GOOD.title,
            "--owner",
            "alice",
            "--due",
            "3d",
            "--priority",
            "high",
            "--type",
            "immediate",
            *db,
        ],
    )
    assert ok.exit_code == 0, ok.output
    item = action_rows.list_items(store)[0]
    action_rows.update(store, _overdue(item))
    listed = runner.invoke(cli, ["actions", "list", "--overdue", "--owner", "alice", *db])
    assert "OVERDUE" in listed.output and GOOD.title in listed.output
    assert runner.invoke(cli, ["actions", "list", "--owner", "zed", *db]).output.startswith(
        "no open action items"
    )
    assert runner.invoke(cli, ["actions", "verify", str(item.id), *db]).exit_code == 1
    assert runner.invoke(cli, ["actions", "done", str(item.id), "-m", "PR 7", *db]).exit_code == 0
    assert runner.invoke(cli, ["actions", "verify", str(item.id), *db]).exit_code == 0
    left = runner.invoke(cli, ["actions", "list", *db]).output.strip()
    assert left == "no open action items (--all shows verified and dropped ones)"
    assert '"status": "verified"' in runner.invoke(cli, ["actions", "list", "--all", "--json", *db]).output


def _overdue(item: action_rows.ActionItem) -> action_rows.ActionItem:
    item.due_at = 1_000.0
    return item
