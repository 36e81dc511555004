"""A re-draft with --force keeps what people wrote in the draft (its summary, root
cause and lessons blocks) and drafts the rest afresh from the record, so pulling in a
reopen or new action items no longer costs the team its analysis."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli
from triaged.incidents.postmortem_blocks import block, carry_over
from triaged.model import Severity
from triaged.store import Store

from .conftest import MakeIncident


def _draft(store: Store, incident_id: int, out: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(
        cli, ["postmortem", "draft", str(incident_id), "--db", store.path, "--out", str(out), *args]
    )
    return r.exit_code, r.output


def test_a_forced_redraft_keeps_the_teams_text_and_refreshes_the_rest(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    inc = make_incident(severity=Severity.P1, resolved_at=600.0)
    code, out = _draft(store, inc.id, tmp_path)
    assert code == 0, out
    md = tmp_path / f"incident-{inc.id}-postmortem.md"
    text = md.read_text()
    text = text.replace("  1. Why? ", "  1. Why? The pool was sized for last year's traffic.")
    text = text.replace(
        "what users experienced, for how long, and how it ended. -->\n",
        "what users experienced, for how long, and how it ended. -->\nCheckout failed for 9 minutes.\n",
    )
    md.write_text(text)
    r = CliRunner().invoke(
        cli,
        ["actions", "add", str(inc.id), "--db", store.path, "--title", "Size the pool from load tests",
         "--owner", "asha", "--due", "7d", "--priority", "high", "--type", "long-term"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    code, out = _draft(store, inc.id, tmp_path, "--force")
    assert code == 0, out
    assert "carried your text over from the previous draft: summary, root cause" in out
    redrafted = md.read_text()
    assert "Why? The pool was sized for last year's traffic." in redrafted
    assert "Checkout failed for 9 minutes." in redrafted
    assert "Size the pool from load tests" in redrafted  # the generated table is new
    # Kept once, not twice; and a third draft keeps it again.
    assert redrafted.count("Checkout failed for 9 minutes.") == 1
    code, out = _draft(store, inc.id, tmp_path, "--force")
    assert code == 0 and "Checkout failed for 9 minutes." in md.read_text()


def test_an_untouched_block_is_drafted_afresh() -> None:
    old = "\n".join(["# x", *block("root cause", ["- detection took 2s"]), "tail"])
    new = "\n".join(["# x", *block("root cause", ["- detection took 5s"]), "tail"])
    merged, kept = carry_over(old, new)
    assert (merged, kept) == (new, [])


def test_an_edited_block_replaces_the_fresh_one_and_trailing_spaces_are_no_edit() -> None:
    drafted = ["- why? ", ""]
    old = "\n".join(["a", *block("lessons", drafted), "b"]).replace("- why? \n", "- why?\n")
    new = "\n".join(["a2", *block("lessons", ["- why? ", "", "- new prompt"]), "b2"])
    assert carry_over(old, new) == (new, [])  # only a trailing space changed: not an edit
    edited = old.replace("- why?\n", "- why? Because the retry storm.\n")
    merged, kept = carry_over(edited, new)
    assert kept == ["lessons"]
    assert "- why? Because the retry storm." in merged and "- new prompt" not in merged
    assert merged.startswith("a2\n") and merged.endswith("\nb2")


def test_a_block_that_lost_its_end_marker_is_drafted_afresh() -> None:
    old_lines = block("summary", ["written by hand"])
    old = "\n".join([*old_lines[:-1], "more"])  # the end marker was deleted
    new = "\n".join(block("summary", [""]))
    assert carry_over(old, new) == (new, [])


def test_a_draft_of_another_stores_incident_is_named_as_such(
    store: Store, make_incident: MakeIncident, tmp_path: Path
) -> None:
    """The demo's store and the daemon's both draft into ./postmortems: incident #1 of
    one must not read as "your draft, may hold edits" to the other."""
    inc = make_incident(severity=Severity.P1, resolved_at=300.0)
    out = tmp_path / "pm"
    out.mkdir()
    (out / f"incident-{inc.id}-postmortem.md").write_text("# the demo's incident\n")
    code, text = _draft(store, inc.id, out)
    assert code != 0
    assert f"{store.path} has no draft of this incident: it was drafted from another store" in text
    assert "--out DIR" in text
    assert (out / f"incident-{inc.id}-postmortem.md").read_text() == "# the demo's incident\n"
