"""Typed config: defaults, env-expanded paths, and errors located file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from triaged.config import InvalidConfigError, load_config
from triaged.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "triaged.yaml"
    p.write_text(text)
    return p


def test_example_config_loads_relative_to_its_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("CONFIGURATION_DIRECTORY", raising=False)
    cfg = load_config(REPO / "config" / "triaged.example.yaml")
    assert Path(cfg.db_path).resolve() == (REPO / "triaged.db").resolve()
    assert cfg.targets[0].job == "bharatmart" and cfg.targets[0].interval_s == 15
    assert cfg.probes[1].url.endswith("/api/health/ready")
    assert cfg.incidents.resolve_hold_s == 300
    assert {r.receiver for r in cfg.routes} == {"oncall-webhook", "log"}


def test_systemd_directories_are_used_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/triaged")
    cfg = load_config(REPO / "config" / "triaged.example.yaml")
    assert cfg.db_path == "/var/lib/triaged/triaged.db"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("targets:\n  - job: a\n    url: ftp://x\n", 3, "url must start with http"),
        ("targets:\n  - url: http://x\n", 2, "missing required key 'job'"),
        ("scrape:\n  interval: soon\n", 2, "invalid duration"),
        ("storage:\n  db: x.db\n  dbb: y\n", 3, "unknown key 'dbb'"),
        ("notifiers:\n  - name: a\n    type: carrier-pigeon\n", 3, "unknown notifier type"),
        ("notifiers:\n  - {name: a, type: log}\nroutes:\n  - receiver: b\n", 4, "not a configured notifier"),
        (
            "targets:\n  - job: a\n    url: http://x\n    interval: 5s\n    timeout: 10s\n",
            5,
            "longer than the interval",
        ),
        ("log:\n  format: xml\n", 2, "log.format"),
        ("incidents: [1]\n", 1, "must be a mapping"),
        ("incidents:\n  reopen_window: 5\n", 2, "5 is not a valid duration: give a unit"),
        ("scrape:\n  interval: 0s\n", 2, "must be longer than 0s"),
        ("evaluation_interval: 0s\n", 1, "must be longer than 0s"),
        # A flat route's match keys are label names, as in the tree (was a traceback at start).
        (
            "notifiers:\n  - {name: a, type: log}\nroutes:\n  - receiver: a\n    match: {a-b: x}\n",
            5,
            "invalid label name 'a-b'",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert fragment in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.yaml")


def test_independent_problems_are_all_reported_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n  - job: a\n  - job: b\n    url: http://x\n  - url: http://y\n"
        "notifiers:\n  - {name: wh, type: webhook}\nroutes:\n  - receiver: wh\n  - receiver: nobody\n"
        "silences: {max_duration: 7x}\nrepage: {P7: 5m}\n",
    )
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    assert [(e.line, e.message) for e in info.value.errors] == [
        (2, "missing required key 'url'"),
        (5, "missing required key 'job'"),
        (7, "missing required key 'url'"),  # the webhook; routes naming it are not blamed
        (10, "route receiver 'nobody' is not a configured notifier"),
        (11, "max_duration: invalid duration '7x' (use e.g. 30s, 5m, 1h30m)"),
        (12, "unknown severity 'P7': use P0-P3 or one of critical, error, warning, info"),
    ]
    assert str(info.value).count("\n") == 5  # one problem per line
    partial = info.value.partial
    assert partial is not None and [t.job for t in partial.targets] == ["b"]


def test_a_heartbeat_to_pagerduty_is_refused(tmp_path: Path) -> None:
    """Each beat would go out as a trigger: a page every interval."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "notifiers:\n  - {name: pd, type: pagerduty, routing_key: '0123456789abcdef0123456789abcdef'}\n"
        "heartbeat: {receiver: pd, interval: 5m}\n"
    )
    with pytest.raises(ConfigError, match="heartbeat receiver 'pd' is PagerDuty: every beat would page"):
        load_config(path)


def test_a_flat_route_reads_match_values_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "notifiers:\n  - {name: a, type: log}\nroutes:\n  - receiver: a\n    match: {canary: true, shard: 0x10}\n",
    )
    assert load_config(path).routes[0].match == {"canary": "true", "shard": "0x10"}
