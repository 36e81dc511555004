"""What the README and docs/ tell a user to type works as they say: the examples load,
and the commands print what the docs promise."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.cli.common import actor_default
from triaged.config import load_config
from triaged.model import Severity
from triaged.service.instance import acquire
from triaged.store import open_store

if TYPE_CHECKING:
    from conftest import AddIncident

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
RULES = REPO / "rules" / "bharatmart.rules.yml"
NOT_RUNNING = "no daemon is running on this store: the receivers that were paged will be told when it starts"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def fenced(doc: Path, after: str, lang: str = "yaml") -> str:
    """The first ```lang block after the line ``after`` in ``doc``."""
    text = doc.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no {lang} block after {after!r} in {doc.name}"
    return match.group(1)


# -- README "Incidents", docs/lifecycle.md: raised severities are announced --------------
def test_raising_the_severity_says_who_tells_the_receivers(db: str, add_incident: AddIncident) -> None:
    inc = add_incident(open_store(db))
    alone = invoke("incidents", "severity", str(inc.id), "P0", "-m", "customers hit", "--db", db)
    assert alone.exit_code == 0, alone.output
    assert f"incident #{inc.id} is now P0" in alone.output
    assert NOT_RUNNING in " ".join(alone.output.split())
    held = acquire(db)  # as `triaged run` does
    try:
        inc2 = add_incident(open_store(db), severity=Severity.P2, service="cart")
        running = invoke("incidents", "severity", str(inc2.id), "critical", "--db", db)
    finally:
        held.release()
    assert running.exit_code == 0, running.output
    assert "will tell the receivers that were paged" in running.output


def test_lowering_the_severity_pages_nobody_and_says_nothing_of_receivers(
    db: str, add_incident: AddIncident
) -> None:
    inc = add_incident(open_store(db), severity=Severity.P0)
    lowered = invoke("incidents", "severity", str(inc.id), "P2", "--db", db)
    assert lowered.exit_code == 0, lowered.output
    assert "receivers" not in lowered.output


# -- `--by`: the help and the docs name every variable actor_default() reads --------------
def test_by_defaults_to_the_sudo_user_as_the_help_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGED_USER", raising=False)
    monkeypatch.setenv("SUDO_USER", "asha")
    monkeypatch.setenv("USER", "triaged")
    assert actor_default() == "asha"
    for command in (["incidents", "ack"], ["actions", "add"], ["postmortem", "draft"]):
        text = " ".join(invoke(*command, "--help").output.split())
        assert "$TRIAGED_USER, else $SUDO_USER, else $USER, else the login name" in text, command
    assert "`$SUDO_USER`" in (DOCS / "lifecycle.md").read_text(encoding="utf-8")


def test_by_falls_back_to_the_login_name_when_no_variable_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """cron and `docker exec` may run the CLI with no $USER: a note is still signed."""
    for name in ("TRIAGED_USER", "SUDO_USER", "USER"):
        monkeypatch.delenv(name, raising=False)
    assert actor_default() == pwd.getpwuid(os.getuid()).pw_name != "unknown"


# -- the config blocks the docs show are accepted as written ------------------------------
def _config_with(tmp_path: Path, block: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    shutil.copy(RULES, tmp_path / "rules" / RULES.name)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        f"storage: {{db: {tmp_path / 't.db'}}}\nrule_files: [rules/*.rules.yml]\n" + block, encoding="utf-8"
    )
    return config


def test_lifecycle_config_block_loads_as_documented(tmp_path: Path) -> None:
    block = fenced(DOCS / "lifecycle.md", "## Configuration") + fenced(
        DOCS / "lifecycle.md", "## Error budget (SLOs)"
    )
    cfg = load_config(_config_with(tmp_path, block + "notifiers: [{name: log, type: log}]\n"))
    lc = cfg.lifecycle
    assert lc.postmortem.due_s == 48 * 3600 and lc.postmortem.dir == str(tmp_path / "postmortems")
    assert lc.actions.remind_at == (9, 0) and lc.actions.remind_before_s == 86_400
    assert (lc.evidence.before_s, lc.evidence.step_s, lc.evidence.max_points, lc.evidence.max_series) == (
        900,
        15,
        2000,
        20,
    )
    (slo,) = lc.slos
    assert slo.name == "api-availability" and slo.objective == pytest.approx(0.999)


def test_oci_config_block_passes_check(tmp_path: Path) -> None:
    config = _config_with(tmp_path, fenced(DOCS / "oci.md", "## Configuration"))
    result = invoke("check", "--config", str(config))
    assert result.exit_code == 0, result.output


def test_oci_auth_left_out_is_reported_as_the_docs_say(tmp_path: Path) -> None:
    block = fenced(DOCS / "oci.md", "## Configuration").replace("  auth: instance_principal", "  # auth:")
    block += f"  config_file: {tmp_path / 'no-oci-config'}\n"
    result = invoke("check", "--config", str(_config_with(tmp_path, block)))
    assert result.exit_code == 1
    assert "(auth: config_file)" in result.output


# -- docs/rule-testing.md: the worked example passes beside the shipped rules -------------
def test_rule_testing_example_passes(tmp_path: Path) -> None:
    shutil.copy(RULES, tmp_path / RULES.name)
    test_file = tmp_path / "example.test.yml"
    test_file.write_text(fenced(DOCS / "rule-testing.md", "## Writing a test"), encoding="utf-8")
    result = invoke("rules", "test", str(test_file))
    assert result.exit_code == 0, result.output
    assert "SUCCESS" in result.output


def test_rule_test_group_keys_are_read_where_the_docs_put_them(tmp_path: Path) -> None:
    shutil.copy(RULES, tmp_path / RULES.name)
    test_file = tmp_path / "keys.test.yml"
    test_file.write_text(
        f"rule_files: [{RULES.name}]\ngroup_eval_order: [bharatmart-availability]\ntests:\n"
        "  - name: keys\n    interval: 1m\n    start_timestamp: 1700000000\n"
        "    external_url: https://triaged.example.com\n    external_labels: {cluster: a}\n"
        "    input_series:\n      - series: 'x'\n        values: '1 1'\n"
        "    promql_expr_test:\n      - expr: timestamp(x)\n        eval_time: 1m\n"
        "        exp_samples:\n          - labels: '{}'\n            value: 1700000060\n",
        encoding="utf-8",
    )
    result = invoke("rules", "test", str(test_file))
    assert result.exit_code == 0, result.output


# -- README "Incidents", docs/lifecycle.md: a typed time may carry an offset ---------------
def test_action_item_due_takes_an_offset_as_every_typed_time_does(db: str, add_incident: AddIncident) -> None:
    inc = add_incident(open_store(db))
    year = time.gmtime().tm_year + 1
    added = invoke(
        "actions", "add", str(inc.id), "--title", "Add DB pool metrics to the startup check",
        "--owner", "asha", "--due", f"{year}-12-20T02:00+05:30", "--priority", "high",
        "--type", "monitoring", "--db", db,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert f"due {year}-12-19 20:30:00 UTC" in added.output
