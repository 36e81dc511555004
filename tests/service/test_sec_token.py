"""Warnings about the API's exposure: a token file other local users can read (they
could then ack or resolve incidents), and an API listening beyond loopback (the token
crosses the network in plain HTTP). Warned about, never refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from triaged.app import build
from triaged.cli import cli
from triaged.config import load_config
from triaged.runner import Runner
from triaged.service.auth import plaintext_listen_warning, token_file_exposure
from triaged.service.host import ServiceHost
from triaged.testing.clock import FakeClock

from .conftest import TOKEN, Setup, free_port

RULES = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: {severity: P1}\n"


def token_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "api-token"
    path.write_text(TOKEN)
    path.chmod(mode)  # explicitly: the test must not depend on the umask
    return path


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o604, True), (0o602, True), (0o640, False)])
def test_token_file_open_to_others_is_named_with_its_mode(tmp_path: Path, mode: int, warned: bool) -> None:
    path = token_file(tmp_path, mode)
    warning = token_file_exposure(str(path))
    if warned:
        assert warning is not None and f"mode {mode:04o}" in warning and str(path) in warning
        assert TOKEN not in warning
    else:
        assert warning is None  # root:triaged 0640, the documented layout, is fine


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        *[("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False)],
        *[("0.0.0.0", True), ("::", True), ("10.0.0.5", True), ("api.example.com", True)],
    ],
)
def test_listen_beyond_loopback_is_named(host: str, warned: bool) -> None:
    assert (plaintext_listen_warning(host) is not None) is warned


def check_config(tmp_path: Path, listen: str, mode: int) -> Path:
    token_file(tmp_path, mode)
    (tmp_path / "a.rules.yml").write_text(RULES)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        f"storage: {{db: {tmp_path / 't.db'}}}\nrule_files: [a.rules.yml]\n"
        "notifiers:\n  - {name: log, type: log}\n"
        f"http: {{listen: '{listen}', token_file: api-token}}\n"
    )
    return config


def test_check_warns_about_a_readable_token_and_a_public_listen_but_passes(tmp_path: Path) -> None:
    config = check_config(tmp_path, "0.0.0.0:9467", 0o644)
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    assert len(warnings) == 2, result.output
    assert warnings[0].startswith(f"{config}: warning: http.token_file {tmp_path / 'api-token'} ")
    assert "mode 0644" in warnings[0] and "chmod o-rwx" in warnings[0]
    assert warnings[1].startswith(f"{config}: warning: http.listen 0.0.0.0 is not a loopback address")


def test_check_is_quiet_for_the_documented_setup(tmp_path: Path) -> None:
    config = check_config(tmp_path, "127.0.0.1:9467", 0o640)
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_run_logs_a_token_file_readable_by_others_and_starts(setup: Setup, start_daemon: Any) -> None:
    path = token_file(setup.dir, 0o644)
    setup.write(port=free_port())
    setup.config.write_text(
        setup.config.read_text().replace("token_env: TRIAGED_API_TOKEN", f"token_file: {path}")
    )
    d = start_daemon(setup.config)
    warned = d.wait_event("token_file_readable_by_others")
    assert warned["level"] == "warning" and warned["path"] == str(path) and "mode 0644" in warned["warning"]
    d.wait_event("http_listening")  # a warning, not a refusal
    assert not d.named("http_listen_not_loopback")
    assert d.stop() == 0


def test_a_reload_says_an_unset_token_variable_is_unset_in_the_daemons_environment(tmp_path: Path) -> None:
    (tmp_path / "a.rules.yml").write_text(RULES)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        f"storage: {{db: {tmp_path / 't.db'}}}\nrule_files: [a.rules.yml]\n"
        "notifiers:\n  - {name: log, type: log}\n"
    )
    daemon = build(load_config(config), clock=FakeClock(1_790_000_000.0))
    host = ServiceHost(Runner(daemon), str(config), environ={})
    config.write_text(config.read_text() + "http: {listen: '127.0.0.1:0', token_env: TRIAGED_API_TOKEN}\n")
    try:
        outcome = host.reload()
    finally:
        daemon.close()
        daemon.store.close()
    assert not outcome["ok"]
    assert outcome["errors"] == [
        f"{config}: http.token_env $TRIAGED_API_TOKEN is not set or empty: in the daemon's environment"
        f" (pid {os.getpid()}), which a reload does not change; set it where the daemon is started"
        " (the unit's Environment= or EnvironmentFile=) and restart"
    ]
