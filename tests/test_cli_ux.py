"""The command line at 3 a.m.: mistakes are refused in one clear line, every config
problem is reported at once, and output says what it means (UTC times, who was told)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.cli.common import when
from triaged.cli.incidents import STATUSES
from triaged.cli.route import EVENTS
from triaged.incidents.actions import ActionStatus
from triaged.incidents.model import IncidentStatus
from triaged.messages import Event
from triaged.service.instance import acquire
from triaged.store import actions as action_rows
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.store import open_store

if TYPE_CHECKING:
    from conftest import AddIncident

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules" / "bharatmart.rules.yml"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(f"rule_files: ['{RULES}']\nnotifiers: [{{name: log, type: log}}]\n{body}")
    return cfg


# -- 1. incidents list --status ---------------------------------------------------------
def test_a_misspelt_status_is_refused_with_the_valid_ones(db: str) -> None:
    result = invoke("incidents", "list", "--status", "opne", "--db", db)
    assert result.exit_code == 2
    assert "'opne' is not one of 'open', 'detected'" in result.output
    assert "no incidents" not in result.output


def test_the_status_choices_are_open_plus_every_incident_state() -> None:
    assert ("open", *(s.value for s in IncidentStatus)) == STATUSES


# -- 2. check prints every problem -------------------------------------------------------
def test_check_reports_every_independent_problem_one_per_line(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        "routes: [{receiver: nobody}]\ntargets:\n  - job: a\nincidents: {reopen_window: 5}\nbogus: 1\n",
    )
    result = invoke("check", "--config", str(cfg))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:3] == [
        f"{cfg}:3: route receiver 'nobody' is not a configured notifier",
        f"{cfg}:5: missing required key 'url'",
        f"{cfg}:6: reopen_window: 5 is not a valid duration: give a unit, e.g. 5s or 5m",
    ]
    assert lines[3].startswith(f"{cfg}:7: unknown key 'bogus' in top level (allowed: ")
    assert lines[4:] == ["4 problem(s) found"]


def test_check_names_the_config_file_and_line_of_a_glob_matching_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text("notifiers: [{name: log, type: log}]\nrule_files: ['nomatch/*.yml']\n")
    result = invoke("check", "--config", str(cfg))
    assert result.exit_code == 1
    assert f"{cfg}:2: rule_files: 'nomatch/*.yml' matches no file" in result.output


def test_check_still_checks_rule_files_when_the_config_has_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(
        "notifiers: [{name: log, type: log}]\nrule_files: ['nomatch/*.yml']\nscrape: {interval: 0s}\n"
    )
    lines = invoke("check", "--config", str(cfg)).output.splitlines()
    assert lines[:2] == [
        f"{cfg}:2: rule_files: 'nomatch/*.yml' matches no file: directory {tmp_path / 'nomatch'} does not exist",
        f"{cfg}:3: interval: must be longer than 0s, got '0s'",
    ]


# -- 3. durations ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("scrape: {interval: 0s}\n", ":3: interval: must be longer than 0s"),
        ("evaluation_interval: 0s\n", ":3: evaluation_interval: must be longer than 0s"),
        ("incidents: {reopen_window: 5}\n", ":3: reopen_window: 5 is not a valid duration"),
        ("targets: [{job: a, url: 'http://x', timeout: 0s}]\n", ":3: timeout: must be longer than 0s"),
        # The oci: section reads durations the same way, and names the line too.
        ("oci:\n  timeouts: {connect: 5s, read: 30}\n", ":4: oci.timeouts.read: 30 is not a valid duration"),
        (
            "oci:\n  alarms:\n    compartment_id: c\n    interval: 0s\n",
            ":6: oci.alarms.interval: must be longer than 0s",
        ),
        (
            "oci:\n  monitoring:\n    queries:\n      - name: q\n        namespace: ns\n"
            "        query: M[1m].mean()\n        compartment_id: c\n        interval: 1 minute\n",
            ":10: oci.monitoring.queries[0].interval: invalid duration '1 minute'",
        ),
    ],
)
def test_check_refuses_zero_intervals_and_bare_numbers(tmp_path: Path, body: str, expected: str) -> None:
    cfg = write_config(tmp_path, body)
    result = invoke("check", "--config", str(cfg))
    assert result.exit_code == 1
    assert f"{cfg}{expected}" in result.output


def test_zero_still_means_off_where_off_is_allowed(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "incidents: {reopen_window: 0}\nrepage: {P0: 0, P1: 30m}\n")
    assert invoke("check", "--config", str(cfg)).exit_code == 0


# -- 4. expiring a pending silence -------------------------------------------------------
def test_expiring_a_pending_silence_lists_it_as_expired(db: str) -> None:
    start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 3 * 3600))
    add = invoke(
        "silence", "add", "service=api", "--start", start, "--for", "1h", "--reason", "later", "--db", db
    )
    assert add.exit_code == 0, add.output
    expired = invoke("silence", "expire", "1", "--db", db)
    assert expired.exit_code == 0 and "cancelled before it started" in expired.output
    listed = json.loads(invoke("silence", "list", "--json", "--db", db).output)
    assert listed[0]["state"] == "expired"
    assert listed[0]["starts_at"] <= listed[0]["ends_at"]
    again = invoke("silence", "expire", "1", "--db", db)
    assert "already ended" in again.output


def test_silence_times_are_read_and_printed_as_utc(db: str) -> None:
    add = invoke("silence", "add", "a=b", "--until", "2099-01-01 10:00", "--reason", "r", "--db", db)
    assert add.exit_code != 0 and "maximum" in add.output  # read as a time, just too long
    soon = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 7200))
    add = invoke("silence", "add", "a=b", "--until", soon, "--reason", "r", "--db", db)
    assert add.exit_code == 0 and f"until {soon}:00 UTC" in add.output
    bad = invoke("silence", "add", "a=b", "--until", "tomorrow", "--reason", "r", "--db", db)
    assert bad.exit_code == 2 and "Invalid value for --until: expected 'YYYY-MM-DD HH:MM' (UTC)" in bad.output


# -- 5. postmortem check of a file -------------------------------------------------------
def test_checking_a_postmortem_file_needs_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no triaged.db here
    monkeypatch.delenv("TRIAGED_DB", raising=False)
    (tmp_path / "pm.md").write_text("# Postmortem\n\nThe outage was human error.\n")
    found = invoke("postmortem", "check", "pm.md")
    assert found.exit_code == 1 and "pm.md:3: 'human error'" in found.output
    (tmp_path / "ok.md").write_text("# Postmortem\n\nA setting nothing validated.\n")
    assert invoke("postmortem", "check", "ok.md").exit_code == 0
    missing = invoke("postmortem", "check", "nofile.md")
    assert missing.exit_code == 1
    assert missing.output.strip() == "Error: nofile.md: no such file"


# -- 6. rules test --run -----------------------------------------------------------------
def test_rules_test_fails_when_run_matches_no_test_group() -> None:
    result = invoke("rules", "test", str(REPO / "rules" / "bharatmart.rules.test.yml"), "--run", "nomatch")
    assert result.exit_code == 1
    assert "SUCCESS" not in result.output
    assert "Error: no test group matches --run nomatch" in result.output


# -- 7. raw error messages ---------------------------------------------------------------
def test_route_test_lists_the_valid_events() -> None:
    cfg = REPO / "config" / "triaged.example.yaml"
    result = invoke("route", "test", "--labels", "severity=P1", "--event", "bogus", "--config", str(cfg))
    assert result.exit_code == 2 and "'bogus' is not one of 'open', 'escalate'" in result.output
    assert tuple(e.value for e in Event) == EVENTS


def test_query_api_against_a_daemon_that_is_down_says_so() -> None:
    result = invoke("query", "up", "--api", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: cannot reach the triaged API at http://127.0.0.1:9: connection refused"
        " — is the daemon running with `http:` enabled?"
    )


def test_query_names_the_bad_option_and_every_source() -> None:
    bad = invoke("query", "up", "--scrape", "http://127.0.0.1:9/metrics", "--every", "5x")
    assert bad.exit_code == 1 and "Error: --every: invalid duration '5x'" in bad.output
    nothing = invoke("query", "up")
    assert "--api URL" in nothing.output and "--scrape URL" in nothing.output


def test_actions_add_says_what_a_due_date_looks_like(db: str, add_incident: AddIncident) -> None:
    inc = add_incident(open_store(db))
    result = invoke(
        "actions", "add", str(inc.id), "--title", "Add DB pool metrics to the startup check",
        "--owner", "asha", "--due", "2026-13-01", "--priority", "high", "--type", "monitoring", "--db", db,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--due: expected YYYY-MM-DD, got '2026-13-01'" in result.output
    assert "does not match format" not in result.output and "month must be" not in result.output
    both = invoke("actions", "add", str(inc.id), "--title", "fix", "--due", "2026-02-30", "--db", db)
    assert "--due: expected YYYY-MM-DD" in both.output and "owner" in both.output


def test_a_failed_verification_sends_the_item_back_to_work(db: str, add_incident: AddIncident) -> None:
    store = open_store(db)
    inc = add_incident(store)
    add = invoke(
        "actions", "add", str(inc.id), "--title", "Add DB pool metrics to the startup check",
        "--owner", "asha", "--due", "7d", "--priority", "high", "--type", "monitoring", "--db", db,
    )  # fmt: skip
    assert add.exit_code == 0, add.output
    early = invoke("actions", "verify", "1", "--failed", "-m", "still slow", "--db", db)
    assert early.exit_code == 1 and "only a done item can fail verification" in early.output
    assert invoke("actions", "done", "1", "--db", db).exit_code == 0
    assert "needs --note" in invoke("actions", "verify", "1", "--failed", "--db", db).output
    failed = invoke("actions", "verify", "1", "--failed", "-m", "p95 still 800 ms", "--db", db)
    assert failed.exit_code == 0 and "in_progress (verification failed)" in failed.output
    item = action_rows.get(store, 1)
    assert item is not None and item.status is ActionStatus.IN_PROGRESS
    assert any("verification failed: p95 still 800 ms" in e["message"] for e in rows.timeline(store, inc.id))


# -- 8. re-drafting keeps the edited draft -----------------------------------------------
def test_redraft_with_force_keeps_the_edited_draft_aside(
    db: str, tmp_path: Path, add_incident: AddIncident
) -> None:
    inc = add_incident(open_store(db), IncidentStatus.RESOLVED)
    out = tmp_path / "pm"
    assert invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--db", db).exit_code == 0
    md = out / f"incident-{inc.id}-postmortem.md"
    md.write_text(md.read_text() + "\nEDITED BY HAND\n")
    refused = invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--db", db)
    assert refused.exit_code == 1 and "use --force" in refused.output
    again = invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--force", "--db", db)
    assert again.exit_code == 0, again.output
    (backup,) = out.glob("*.bak")
    assert "EDITED BY HAND" in backup.read_text() and "EDITED BY HAND" not in md.read_text()
    assert f"kept the previous draft, with any edits, as {backup}" in again.output


# -- 9. who was told ---------------------------------------------------------------------
def test_a_hand_ack_says_whether_receivers_were_told(
    db: str, tmp_path: Path, add_incident: AddIncident
) -> None:
    store = open_store(db)
    quiet, told = add_incident(store), add_incident(store, service="cart")
    # With or without --config the daemon tells them (tests/lifecycle/test_hand_announcements.py).
    alone = invoke("incidents", "ack", str(quiet.id), "--db", db)
    assert alone.exit_code == 0, alone.output
    assert (
        "no daemon is running on this store: the receivers that were paged will be told when it starts"
        in (" ".join(alone.output.split()))
    )
    held = acquire(db)  # as `triaged run` does: now a daemon holds the store
    try:
        cfg = write_config(tmp_path, f"storage: {{db: '{db}'}}\n")
        routed = invoke("incidents", "ack", str(told.id), "--config", str(cfg))
    finally:
        held.release()
    assert routed.exit_code == 0, routed.output
    assert f"the running daemon (pid {os.getpid()}) will tell the receivers that were paged" in routed.output
    # Moves receivers never hear of say nothing about them.
    quietly = invoke("incidents", "investigate", str(quiet.id), "--db", db)
    assert "receivers" not in quietly.output


# -- 10. empty notes ---------------------------------------------------------------------
def test_an_empty_note_is_refused(db: str, add_incident: AddIncident) -> None:
    store = open_store(db)
    inc = add_incident(store)
    result = invoke("incidents", "note", str(inc.id), "  ", "--db", db)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: the note is empty: write what you saw, tried or decided"
    assert [e for e in rows.timeline(store, inc.id) if e["kind"] == "note"] == []


# -- 11. help and docs agree -------------------------------------------------------------
def test_demo_and_simulate_help_agree_with_the_docs() -> None:
    assert "about 50 seconds" in " ".join(invoke("demo", "--help").output.split())
    sim = invoke("simulate", "--help").output
    assert "--control-port" in sim and "localhost:3001/control/faults" in sim
    for doc in ("README.md", "docs/rule-testing.md"):
        text = " ".join((REPO / doc).read_text().split())
        assert "about 50 seconds" in text and "two minutes" not in text, doc


# -- 12. times say their zone ------------------------------------------------------------
def test_listed_times_are_utc_and_say_so(db: str, add_incident: AddIncident) -> None:
    assert when(0) == "1970-01-01 00:00:00 UTC"
    inc = add_incident(open_store(db))
    listed = invoke("incidents", "list", "--db", db)
    assert when(inc.opened_at) in listed.output


def test_rules_check_warns_of_an_alert_without_severity_but_passes(tmp_path: Path) -> None:
    rules = tmp_path / "a.rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n")
    result = CliRunner().invoke(cli, ["rules", "check", str(rules)])
    assert result.exit_code == 0
    assert f"{rules}:4: warning: alert 'A' has no 'severity' label" in result.output


# -- 13. no tracebacks: ids, folders, due dates --------------------------------------------
HUGE = str(2**63)


@pytest.mark.parametrize(
    "args",
    [
        ("incidents", "ack", HUGE),
        ("incidents", "show", HUGE),
        ("incidents", "note", HUGE, "text"),
        ("incidents", "close", HUGE),
        ("incidents", "severity", HUGE, "P2"),
        ("actions", "add", HUGE, "--title", "Add DB pool metrics to the startup check"),
        ("actions", "done", HUGE),
        ("actions", "verify", HUGE),
        ("actions", "list", "--incident", HUGE),
        ("postmortem", "draft", HUGE),
        ("postmortem", "check", HUGE),
        ("postmortem", "complete", HUGE),
        ("silence", "expire", HUGE),
        ("incidents", "list", "--limit", HUGE),
    ],
)
def test_an_id_too_large_for_sqlite_is_refused_in_one_line(db: str, args: tuple[str, ...]) -> None:
    result = invoke(*args, "--db", db)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert " id: use the number, e.g. 1" in result.output or "is not in the range" in result.output


def test_a_draft_into_a_file_or_impossible_folder_is_refused_in_one_line(
    db: str, tmp_path: Path, add_incident: AddIncident
) -> None:
    inc = add_incident(open_store(db), IncidentStatus.RESOLVED)
    a_file = tmp_path / "afile"
    a_file.write_text("")
    for out, why in ((a_file, "is a file, not a folder"), (a_file / "sub", "Not a directory")):
        result = invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--db", db)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert result.output.startswith("Error: cannot write the draft") and why in result.output


def test_a_failed_forced_redraft_keeps_the_draft_and_leaves_no_backup(
    db: str, tmp_path: Path, add_incident: AddIncident
) -> None:
    store = open_store(db)
    inc = add_incident(store, IncidentStatus.RESOLVED)
    with store.atomic():
        series = ev_rows.ensure_series(
            store,
            inc.id,
            alertname="HighLatency",
            expr="latency",
            role="value",
            labels={},
            op=">",
            threshold=1,
        )
        ev_rows.add_points(store, series, [(inc.detected_at + 10 * i, 0.5 + i / 10) for i in range(20)])
    out = tmp_path / "pm"
    assert invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--db", db).exit_code == 0
    md = out / f"incident-{inc.id}-postmortem.md"
    md.write_text("EDITED BY HAND\n")
    chart = out / f"incident-{inc.id}-chart.svg"
    chart.unlink()
    chart.mkdir()  # something else now holds the chart's name: the re-draft cannot be written
    failed = invoke("postmortem", "draft", str(inc.id), "--out", str(out), "--force", "--db", db)
    assert failed.exit_code == 1 and isinstance(failed.exception, SystemExit), failed.output
    assert failed.output.startswith("Error: cannot write the draft")
    assert md.read_text() == "EDITED BY HAND\n" and list(out.glob("*.bak")) == []


def test_a_due_date_beyond_ten_years_is_refused_and_stored_ones_still_print(
    db: str, tmp_path: Path, add_incident: AddIncident
) -> None:
    store = open_store(db)
    inc = add_incident(store, IncidentStatus.RESOLVED)
    add = (
        "actions", "add", str(inc.id), "--title", "Add DB pool metrics to the startup check",
        "--owner", "asha", "--priority", "high", "--type", "monitoring", "--db", db,
    )  # fmt: skip
    refused = invoke(*add, "--due", "10000000000000d")
    assert refused.exit_code == 1 and "more than 10 years ahead" in refused.output
    assert invoke(*add, "--due", "9999-12-31").exit_code == 1
    assert invoke(*add, "--due", "3650d").exit_code == 0
    # A store written before the bound may hold one: listing and drafting must not crash.
    store.execute("UPDATE action_items SET due_at = ?", [8.64e17])
    for args in (
        ("actions", "list"),
        ("incidents", "show", str(inc.id)),
        ("postmortem", "draft", str(inc.id), "--out", str(tmp_path / "pm")),
    ):
        result = invoke(*args, "--db", db)
        assert result.exit_code == 0, (args, result.output)
    assert "(out of range: 8.64e+17)" in invoke("actions", "list", "--db", db).output


def test_incidents_list_shows_when_the_symptom_was_detected(db: str, add_incident: AddIncident) -> None:
    store = open_store(db)
    inc = add_incident(store)
    inc.detected_at = inc.opened_at - 90
    rows.update_incident(store, inc)
    listed = invoke("incidents", "list", "--db", db).output
    assert when(inc.detected_at) in listed and when(inc.opened_at) not in listed
    assert "1m30s" in listed  # TTD
    assert "what is open" not in invoke("--help").output
