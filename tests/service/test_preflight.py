"""`triaged check` and the required-settings table: what the seed outage lacked."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

from triaged.config import load_config
from triaged.service.preflight import REQUIREMENTS, required_problems

from .conftest import TRIAGED, Setup, daemon_env


def check(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRIAGED, "check", "--config", str(config), *args],
        env=daemon_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there once closed


def test_required_settings_are_declared_once_and_name_the_missing_one(setup: Setup) -> None:
    features = {r.feature for r in REQUIREMENTS}
    assert {"webhook notifier", "ons notifier", "http api", "rules"} <= features
    cfg = load_config(setup.config)
    assert required_problems(cfg, {"TRIAGED_API_TOKEN": "x" * 32}) == []
    problems = required_problems(cfg, {})
    assert problems == [f"{setup.config}: http.token_env $TRIAGED_API_TOKEN is not set or empty"]


def test_ons_notifier_without_topics_is_refused(setup: Setup) -> None:
    text = setup.config.read_text().replace(
        "  - name: hook\n", "  - name: pager\n    type: ons\n  - name: hook\n", 1
    )
    setup.config.write_text(text)
    problems = required_problems(load_config(setup.config), {"TRIAGED_API_TOKEN": "x" * 32})
    assert any("type ons needs oci.notifiers.ons.topics" in p for p in problems)


def test_run_refuses_to_start_without_a_required_setting(setup: Setup) -> None:
    env = daemon_env()
    del env["TRIAGED_API_TOKEN"]
    done = subprocess.run(
        [TRIAGED, "run", "--config", str(setup.config)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "TRIAGED_API_TOKEN is not set" in done.stderr
    assert not setup.db.exists()


def test_check_passes_then_connect_finds_the_dead_webhook(setup: Setup) -> None:
    ok = check(setup.config)
    assert ok.returncode == 0, ok.stderr
    assert "ok (1 targets, 0 probes, 1 rule groups, 1 rules, 1 notifiers)" in ok.stdout
    reachable = check(setup.config, "--connect")
    assert reachable.returncode == 0, reachable.stdout + reachable.stderr
    assert "ok    scrape/shop/" in reachable.stdout and "ok    notifier/hook 127.0.0.1:" in reachable.stdout

    setup.config.write_text(setup.config.read_text().replace(setup.receiver.url, dead_url()))
    assert check(setup.config).returncode == 0  # offline, a dead receiver is not visible
    dead = check(setup.config, "--connect", "--timeout", "2")
    assert dead.returncode == 1
    assert "FAIL  notifier/hook" in dead.stdout
    assert "1 problem(s) found" in dead.stderr


def test_check_reports_a_broken_rule_file_and_a_missing_token_together(setup: Setup) -> None:
    setup.rules.write_text("groups:\n  - name: shop\n    rules:\n      - alert: X\n        expr: sum((\n")
    env: dict[str, Any] = {"TRIAGED_API_TOKEN": ""}
    done = check(setup.config, **env)
    assert done.returncode == 1
    assert f"{setup.rules}:" in done.stderr
    assert "TRIAGED_API_TOKEN is not set" in done.stderr
    assert "2 problem(s) found" in done.stderr
