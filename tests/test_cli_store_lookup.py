"""How the store-only commands find the store from --config: by reading `storage.db`
alone (a typo elsewhere in the config does not lock the on-call out, and nothing else
of the config is imported), and saying how the path was resolved when it names no
file. Also: ids pasted as `#N`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.config import load_config
from triaged.incidents.model import Incident, IncidentStatus
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.store import open_store

TYPO_ELSEWHERE = """\
targets:
  - job: api
    url: http://127.0.0.1:3000/metrics
    interval: 1
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def make_store(path: Path) -> Path:
    store = open_store(path)
    now = time.time() - 600
    rows.insert_incident(
        store,
        Incident(
            id=0,
            group_key="service=api",
            service="api",
            title="HighLatency on api",
            severity=Severity.P1,
            status=IncidentStatus.DETECTED,
            detected_at=now,
            opened_at=now,
            updated_at=now,
            rule="HighLatency",
        ),
    )
    store.close()
    return path


@pytest.mark.parametrize(
    "written",
    ["triaged.db", "sub/../triaged.db", "${TRIAGED_T_DIR}/x.db", "${TRIAGED_T_UNSET:-state}/triaged.db"],
)
def test_a_mistake_elsewhere_in_the_config_does_not_lock_out_the_daemons_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("TRIAGED_T_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("TRIAGED_T_UNSET", raising=False)
    config = tmp_path / "etc" / "triaged.yaml"
    config.parent.mkdir()
    config.write_text(f"storage:\n  db: {written}\n")
    daemon_db = Path(load_config(config).db_path)  # where the daemon keeps it
    daemon_db.parent.mkdir(parents=True, exist_ok=True)
    make_store(daemon_db)
    config.write_text(config.read_text() + TYPO_ELSEWHERE)
    for args in (("incidents", "list"), ("incidents", "show", "1"), ("actions", "list")):
        result = invoke(*args, "-c", str(config))
        assert result.exit_code == 0, (args, result.output)
    assert "HighLatency on api" in invoke("incidents", "list", "-c", str(config)).output


def test_store_only_commands_do_not_import_the_whole_config(tmp_path: Path) -> None:
    make_store(tmp_path / "triaged.db")
    config = tmp_path / "triaged.yaml"
    config.write_text("storage:\n  db: triaged.db\n" + TYPO_ELSEWHERE)
    code = (
        "import sys; from triaged.cli import cli\n"
        f"try: cli(['incidents', 'list', '-c', {str(config)!r}])\n"
        "except SystemExit as e: assert not e.code, e.code\n"
        "print(sorted(m for m in ('triaged.config', 'triaged.alerting_config', 'triaged.promql.engine')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_missing_store_says_how_state_directory_resolved_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    config = tmp_path / "etc" / "triaged" / "triaged.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("storage:\n  db: ${STATE_DIRECTORY:-..}/triaged.db\n")
    result = invoke("incidents", "ack", "3", "-c", str(config))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {config}: no such database: storage.db resolved to {tmp_path / 'etc' / 'triaged.db'}"
        " ($STATE_DIRECTORY unset); the daemon under systemd uses /var/lib/triaged/triaged.db:"
        " try --db /var/lib/triaged/triaged.db"
    )


def test_a_missing_store_without_state_directory_does_not_mention_it(tmp_path: Path) -> None:
    config = tmp_path / "triaged.yaml"
    config.write_text("storage:\n  db: nope/triaged.db\n")
    result = invoke("incidents", "list", "-c", str(config))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {config}: no such database: storage.db resolved to {tmp_path / 'nope' / 'triaged.db'}"
        " (run the daemon first, or pass --db)"
    )


def test_a_directory_given_as_the_store_is_named_as_one(tmp_path: Path) -> None:
    result = invoke("incidents", "list", "--db", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {tmp_path} is a directory: name the database file in it, e.g. --db {tmp_path / 'triaged.db'}"
    )


def test_an_id_pasted_with_its_hash_is_taken(tmp_path: Path) -> None:
    db = str(make_store(tmp_path / "triaged.db"))
    shown = invoke("incidents", "show", "#1", "--db", db)
    assert shown.exit_code == 0, shown.output
    assert "HighLatency on api" in shown.output
    for bad in ("#x", "x1", "#", "0"):
        refused = invoke("incidents", "show", bad, "--db", db)
        assert refused.exit_code == 2
        assert f"{bad!r} is not an incident id: use the number, e.g. 1" in refused.output
        assert "9223372036854775807" not in refused.output
    silence = invoke("silence", "expire", "x", "--db", db)
    assert "'x' is not a silence id: use the number, e.g. 1" in silence.output


def test_commands_that_read_more_of_a_broken_config_warn_and_go_on(tmp_path: Path) -> None:
    """ack, silence add/list, report and postmortem with a config someone is mid-edit
    on: one warning naming the first problem and what is left out, then the work."""
    make_store(tmp_path / "triaged.db")
    config = tmp_path / "triaged.yaml"
    config.write_text("storage:\n  db: triaged.db\n" + TYPO_ELSEWHERE)
    runner = CliRunner()  # click >= 8.2: stderr apart from output
    c = ("-c", str(config))
    for args in (
        ("incidents", "ack", "1", "-m", "on it"),
        ("silence", "add", "service=api", "--for", "1h", "--reason", "deploy"),
        ("silence", "list"),
        ("report", "--since", "1d"),
        ("postmortem", "list"),
    ):
        result = runner.invoke(cli, [*args, *c])
        assert result.exit_code == 0, (args, result.output)
    warned = runner.invoke(cli, ["silence", "list", *c])
    assert "warning:" in warned.stderr and "interval: 1 is not a valid duration" in warned.stderr
    assert "going on without the config" in warned.stderr
    assert rows.get_incident(open_store(tmp_path / "triaged.db"), 1).status == "acknowledged"  # type: ignore[union-attr]


def test_an_exported_triaged_db_beating_the_config_is_said(tmp_path: Path) -> None:
    """A README-style `export TRIAGED_DB=triaged-demo.db`, then a command with -c for the
    real store: it reads the demo's (documented precedence) and says so on stderr."""
    demo = make_store(tmp_path / "demo.db")
    make_store(tmp_path / "real.db")
    cfg = tmp_path / "t.yaml"
    cfg.write_text("storage: {db: real.db}\n")
    result = CliRunner().invoke(
        cli, ["incidents", "list", "--json", "-c", str(cfg)], env={"TRIAGED_DB": str(demo)}
    )
    assert result.exit_code == 0, result.output
    assert f"note: using $TRIAGED_DB ({demo}), not {tmp_path / 'real.db'}" in result.stderr
    assert "note" not in result.stdout
    same = CliRunner().invoke(
        cli, ["incidents", "list", "-c", str(cfg)], env={"TRIAGED_DB": str(tmp_path / "real.db")}
    )
    assert "note:" not in same.output
