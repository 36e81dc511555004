"""Findings of the on-call usability review, each checked through the real CLI against a
real SQLite store: what a tired engineer reads at 3 a.m. must fit the terminal, name
who did what, and suggest the next command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from triaged.alerts.silence import Mute
from triaged.cli import cli
from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store, alert_state, open_store, silences
from triaged.store import incidents as rows

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules" / "bharatmart.rules.yml"
LONG_TITLE = "BharatMart: health check http://bharatmart-api.internal.example.com:8080/api/health failing"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def incident(
    store: Store,
    status: IncidentStatus = IncidentStatus.DETECTED,
    *,
    title: str = LONG_TITLE,
    ago_s: float = 600,
    annotations: dict[str, str] | None = None,
) -> Incident:
    at = time.time() - ago_s
    inc = rows.insert_incident(
        store,
        Incident(
            id=0,
            group_key=f"service=api-{ago_s}",
            service="bharatmart-api",
            title=title,
            severity=Severity.P0,
            status=status,
            detected_at=at - 30,
            opened_at=at,
            updated_at=at,
            rule="HealthCheckFailing",
            labels={"service": "bharatmart-api"},
            resolved_at=at + 300 if status is IncidentStatus.RESOLVED else None,
        ),
    )
    if annotations is not None:
        rows.upsert_incident_alert(
            store,
            inc.id,
            {
                "incident_id": inc.id,
                "fingerprint": f"fp{inc.id}",
                "alertname": "HealthCheckFailing",
                "labels": {"alertname": "HealthCheckFailing", "service": "bharatmart-api"},
                "annotations": annotations,
                "severity": "P0",
                "state": "firing",
                "expr": "probe_success == 0",
                "active_at": at,
                "fired_at": at,
                "resolved_at": None,
                "value": 0.0,
            },
        )
    return inc


def firing(store: Store, rule: str, **labels: str) -> Alert:
    now = time.time()
    alert = Alert(rule, Labels.of(alertname=rule, **labels), {}, AlertState.FIRING, now - 300, 1.0, now - 200)
    alert_state.save(store, [(rule, [alert])])
    return alert


# -- 1. incidents list ---------------------------------------------------------------------
def test_list_fits_the_terminal_and_keeps_the_end_of_the_title(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(db)
    for n in range(3):
        incident(store, IncidentStatus.INVESTIGATING, ago_s=600 + n)
    monkeypatch.setenv("COLUMNS", "100")
    listed = invoke("incidents", "list", "--db", db)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert max(len(line) for line in lines) <= 100, listed.output
    assert all(line.endswith("failing") or "failing " in line for line in lines[1:]), listed.output
    assert "BharatMart: health" in lines[1] and "…" in lines[1]
    assert "DETECTED UTC" in lines[0] and " UTC" not in "\n".join(lines[1:])  # short times


def test_piped_list_keeps_full_titles_and_times(db: str) -> None:
    inc = incident(open_store(db))
    listed = invoke("incidents", "list", "--db", db).output
    assert LONG_TITLE in listed
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(inc.detected_at)) in listed


def test_open_incidents_older_than_the_limit_are_listed_with_a_footer(db: str) -> None:
    store = open_store(db)
    old_open = incident(store, IncidentStatus.DETECTED, title="Old P0 still open", ago_s=9000)
    for n in range(4):
        incident(store, IncidentStatus.RESOLVED, title=f"Resolved {n}", ago_s=5000 - n)
    listed = invoke("incidents", "list", "--limit", "2", "--db", db).output
    ids = [line.split()[0] for line in listed.splitlines()[1:-1]]
    assert ids == ["5", "4", str(old_open.id)], listed
    assert listed.splitlines()[-1] == "(3 of 5 shown: the newest 2 and 1 older open; --limit 5 for all)"
    # --json is what it was: exactly the newest N.
    as_json = json.loads(invoke("incidents", "list", "--limit", "2", "--json", "--db", db).output)
    assert [i["id"] for i in as_json] == [5, 4]


def test_the_acker_owns_an_unassigned_incident_in_the_list(db: str) -> None:
    inc = incident(open_store(db))
    assert invoke("incidents", "ack", str(inc.id), "--by", "oncall1", "--db", db).exit_code == 0
    assert "oncall1 (ack)" in invoke("incidents", "list", "--db", db).output
    assert "assignee oncall1 (ack)" in invoke("incidents", "show", str(inc.id), "--db", db).output


def test_limit_help_shows_no_64_bit_range() -> None:
    helped = invoke("incidents", "list", "--help").output
    assert "9223372036854775807" not in helped and "[default: 50]" in helped


# -- 2. incidents show -------------------------------------------------------------------------
def test_show_prints_description_and_runbook_and_wraps_the_timeline(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(db)
    inc = incident(
        store,
        title="BharatMart: health check failing",
        annotations={
            "description": "The health endpoint failed three probes in a row.",
            "runbook_url": "https://runbooks.example.com/bharatmart/health",
        },
    )
    rows.add_timeline(store, inc.id, time.time(), "note", "word " * 60, actor="asha")
    monkeypatch.setenv("COLUMNS", "80")
    shown = invoke("incidents", "show", str(inc.id), "--db", db).output
    lines = shown.splitlines()
    assert lines[2] == "  The health endpoint failed three probes in a row."
    assert lines[3] == "  runbook: https://runbooks.example.com/bharatmart/health"
    timeline = lines[lines.index("Timeline:") + 1 :]
    assert len(timeline) > 2 and max(len(line) for line in timeline) <= 80, shown


def test_show_help_names_everything_it_prints() -> None:
    helped = " ".join(invoke("incidents", "show", "--help").output.split())
    for part in ("runbook", "chart", "action items", "timeline", "lifetimes"):
        assert part in helped


# -- 3, 4. repeated ack, reopen ------------------------------------------------------------------
def test_a_repeated_ack_says_by_whom_and_when(db: str) -> None:
    inc = incident(open_store(db))
    invoke("incidents", "ack", str(inc.id), "--by", "oncall1", "--db", db)
    again = invoke("incidents", "ack", str(inc.id), "--by", "oncall2", "--db", db)
    assert again.exit_code == 0
    clock = time.strftime("%H:%M", time.gmtime())
    assert f"incident #{inc.id} is already acknowledged by oncall1 at {clock}" in again.output
    assert (
        again.output.rstrip().endswith("UTC (just now); nothing changed") or " ago); nothing" in again.output
    )


def test_reopen_says_it_stays_open_until_resolved_by_hand(db: str) -> None:
    inc = incident(open_store(db), IncidentStatus.RESOLVED)
    out = invoke("incidents", "reopen", str(inc.id), "-m", "customers still see errors", "--db", db).output
    assert (
        f"incident #{inc.id} reopened (detected, unacknowledged): it stays open until resolved by hand" in out
    )
    assert "is now detected" not in out


# -- 5. note -m ---------------------------------------------------------------------------------
def test_note_takes_m_like_the_other_commands(db: str) -> None:
    store = open_store(db)
    inc = incident(store)
    assert invoke("incidents", "note", str(inc.id), "-m", "rolled back v42", "--db", db).exit_code == 0
    assert any(e["message"] == "rolled back v42" for e in rows.timeline(store, inc.id))
    both = invoke("incidents", "note", str(inc.id), "text", "-m", "text", "--db", db)
    assert both.exit_code == 2 and "not both" in both.output
    assert invoke("incidents", "note", str(inc.id), "--db", db).exit_code == 2


# -- 7. action items ---------------------------------------------------------------------------
def add_item(db: str, incident_id: int, *extra: str) -> Result:
    return invoke(
        "actions", "add", str(incident_id), "--title", "Add DB pool metrics to the startup check",
        "--due", "7d", "--db", db, *extra,
    )  # fmt: skip


def test_repeating_an_action_step_is_harmless_and_refusals_name_commands(db: str) -> None:
    inc = incident(open_store(db))
    assert (
        add_item(db, inc.id, "--owner", "asha", "--priority", "high", "--type", "monitoring").exit_code == 0
    )
    refused = invoke("actions", "verify", "1", "--db", db)
    assert refused.exit_code == 1
    assert "next: actions start 1, actions done 1, actions drop 1 -m why" in refused.output
    assert invoke("actions", "done", "1", "--db", db).exit_code == 0
    again = invoke("actions", "done", "1", "--db", db)
    assert again.exit_code == 0 and "action item #1 is already done" in again.output
    assert "nothing changed" in again.output


def test_drop_needs_a_reason(db: str) -> None:
    inc = incident(open_store(db))
    add_item(db, inc.id, "--owner", "asha", "--priority", "low", "--type", "process")
    bare = invoke("actions", "drop", "1", "--db", db)
    assert bare.exit_code == 2 and "drop needs -m" in bare.output
    assert invoke("actions", "drop", "1", "-m", "superseded by #2", "--db", db).exit_code == 0


def test_action_options_accept_any_case_and_say_what_was_wrong(db: str) -> None:
    inc = incident(open_store(db))
    ok = add_item(db, inc.id, "--owner", "asha", "--priority", "High", "--type", "short_term")
    assert ok.exit_code == 0, ok.output
    bad = add_item(db, inc.id, "--owner", "team", "--priority", "urgent", "--type", "later")
    assert "'team' is a group, not one person" in bad.output
    assert "not 'urgent'" in bad.output and "not 'later'" in bad.output


def test_each_move_explains_its_own_note() -> None:
    helps = {name: invoke("actions", name, "--help").output for name in ("start", "done", "drop")}
    assert len({h.split("-m, --note TEXT")[1].split("\n")[0] for h in helps.values()}) == 3
    assert "how it was verified" not in helps["drop"]


# -- 8. silences ---------------------------------------------------------------------------------
def test_a_misspelt_alertname_is_flagged_with_a_suggestion(db: str) -> None:
    firing(open_store(db), "DBPoolSaturation", service="api")
    typo = invoke("silence", "add", "alertname=DBPoolSaturaton", "--for", "1h", "--reason", "x", "--db", db)
    assert typo.exit_code == 0
    assert "it matches no alert firing now; it takes effect at the daemon's next evaluation" in typo.output
    assert "warning: no rule named DBPoolSaturaton (did you mean DBPoolSaturation?)" in typo.output
    right = invoke("silence", "add", "alertname=DBPoolSaturation", "--for", "1h", "--reason", "x", "--db", db)
    assert (
        'it matches 1 alert firing now: DBPoolSaturation{service="api"};'
        " it takes effect at the daemon's next evaluation" in right.output
    )
    assert "warning" not in right.output


def test_a_bare_first_name_is_the_alertname_as_with_amtool(db: str) -> None:
    now = time.time()
    alerts = [
        Alert("DBPoolSaturation", Labels.of(alertname="DBPoolSaturation", service=svc), {}, AlertState.FIRING,
              now - 300, 1.0, now - 200)
        for svc in ("api", "cart")
    ]  # fmt: skip
    alert_state.save(open_store(db), [("DBPoolSaturation", alerts)])
    added = invoke("silence", "add", "DBPoolSaturation", "service=api", "--for", "1h", "-m", "x", "--db", db)
    assert 'alertname="DBPoolSaturation",service="api"' in added.output
    assert "it matches 1 alert firing now" in added.output
    later = invoke("silence", "add", "service=api", "DBPoolSaturation", "--for", "1h", "-m", "x", "--db", db)
    assert later.exit_code != 0 and "bad matcher format: 'DBPoolSaturation'" in later.output


def test_a_typo_is_caught_from_the_configs_rule_files(db: str, tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(
        f"storage: {{db: '{db}'}}\nrule_files: ['{RULES}']\nnotifiers: [{{name: log, type: log}}]\n"
    )
    typo = invoke(
        "silence", "add", "alertname=HighP95Latancy", "--for", "1h", "--reason", "x", "-c", str(cfg)
    )
    assert "(did you mean HighP95Latency?)" in typo.output


def test_a_fresh_silence_is_not_expiring_and_pending_ones_show_their_start(db: str) -> None:
    invoke("silence", "add", "service=api", "--for", "1h", "--reason", "deploy", "--db", db)
    start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 3 * 3600))
    later = invoke(
        "silence", "add", "service=cart", "--start", start, "--for", "1h", "--reason", "later", "--db", db
    )
    assert "it takes effect at the daemon's first evaluation from its start" in later.output
    listed = invoke("silence", "list", "--db", db).output
    assert "EXPIRING" not in listed
    assert "STARTS UTC" in listed.splitlines()[0]
    assert start[11:] in listed  # the pending one's start


def test_until_in_the_past_is_a_usage_error(db: str) -> None:
    past = invoke("silence", "add", "a=b", "--until", "2020-01-01 00:00", "--reason", "r", "--db", db)
    assert past.exit_code == 2 and "--until 2020-01-01 00:00 UTC is in the past" in past.output


def test_silence_list_shows_maintenance_windows_of_the_config(db: str, tmp_path: Path) -> None:
    hour = time.gmtime(time.time() + 3 * 3600).tm_hour
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(
        f"storage: {{db: '{db}'}}\nrule_files: ['{RULES}']\nnotifiers: [{{name: log, type: log}}]\n"
        "maintenance:\n"
        f"  - {{name: patching, schedule: '0 {hour} * * *', duration: 1h, timezone: UTC,"
        " match: {service: api}, reason: OS patching}\n"
    )
    listed = invoke("silence", "list", "-c", str(cfg)).output
    (row,) = [line for line in listed.splitlines() if line.startswith("maint:patching")]
    assert "pending" in row and 'service="api"' in row and "OS patching" in row
    assert "maint:" not in invoke("silence", "list", "--db", db).output  # needs the config


def test_expire_takes_a_reason_noted_on_the_incident_it_muted(db: str) -> None:
    store = open_store(db)
    inc = incident(store)
    alert = firing(store, "HealthCheckFailing", service="bharatmart-api")
    invoke("silence", "add", "service=bharatmart-api", "--for", "1h", "--reason", "deploy", "--db", db)
    silences.start_mute(store, alert, Mute("silence", "1", "silence #1"), inc.id, time.time())
    ended = invoke("silence", "expire", "1", "-m", "deploy rolled back", "--by", "ravi", "--db", db)
    assert ended.exit_code == 0 and f"noted on the timeline of incident #{inc.id}" in ended.output
    (entry,) = [e for e in rows.timeline(store, inc.id) if e["kind"] == "silence_expired"]
    assert entry["actor"] == "ravi" and entry["message"].endswith("ended early by ravi: deploy rolled back")


# -- 9, 10. postmortem check, exit codes -------------------------------------------------------------
def test_postmortem_check_of_a_missing_incident_says_so(db: str) -> None:
    result = invoke("postmortem", "check", "7", "--db", db)
    assert result.exit_code == 1 and result.output.strip() == "Error: no incident #7"


@pytest.mark.parametrize(
    "args",
    [
        ("silence", "add", "a=b", "--for", "5", "--reason", "r"),
        ("silence", "list", "--expired-since", "5"),
        ("silence", "muted", "--since", "5"),
        ("route", "flapping", "--since", "5"),
    ],
)
def test_bad_values_are_usage_errors(db: str, args: tuple[str, ...]) -> None:
    result = invoke(*args, "--db", db)
    assert result.exit_code == 2 and "invalid duration '5'" in result.output


def test_route_test_with_bad_labels_is_a_usage_error() -> None:
    cfg = REPO / "config" / "triaged.example.yaml"
    result = invoke("route", "test", "--labels", "foo", "--config", str(cfg))
    assert result.exit_code == 2 and "expected key=value, got 'foo'" in result.output


EVIL = "disk full\x1b[2J\x1b]0;owned\x07\nINJECTED ROW\x9b31m"


def test_terminal_escapes_from_an_exporter_never_reach_the_terminal(db: str) -> None:
    """A scraped label value becomes the title (and a timeline message): its escape
    sequences would clear, recolour or retitle the on-call's terminal, and its newline
    would fake a row. They are shown as visible escapes instead."""
    store = open_store(db)
    inc = incident(store, title=EVIL, annotations={"description": EVIL})
    rows.add_timeline(store, inc.id, time.time(), "note", EVIL)
    store.close()
    for args in (("incidents", "list", "--db", db), ("incidents", "show", str(inc.id), "--db", db)):
        out = invoke(*args).output
        assert not any(ch in out for ch in "\x1b\x07\x9b"), args
        assert "disk full\\x1b[2J\\x1b]0;owned\\x07" in out
    listed = invoke("incidents", "list", "--db", db).output
    assert "INJECTED ROW" not in listed.splitlines()[2:] and len(listed.splitlines()) == 2
