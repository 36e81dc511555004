"""Recording rules inside the daemon: each rule's output is written back as series,
and one rule's write never marks another rule's output stale."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from triaged.app import Daemon, build
from triaged.config import load_config
from triaged.model import Labels, Matcher, MatchOp
from triaged.testing.clock import FakeClock


def test_two_recording_rules_keep_their_own_series(tmp_path: Path) -> None:
    (tmp_path / "r.rules.yml").write_text(
        "groups:\n  - name: rec\n    rules:\n"
        "      - record: job:a:sum\n        expr: sum(metric_a)\n"
        "      - record: job:b:sum\n        expr: sum(metric_b)\n"
    )
    (tmp_path / "t.yaml").write_text(
        "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 10s\n"
    )
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    try:
        for i, now in enumerate((1000.0, 1010.0, 1020.0)):
            daemon.storage.append(Labels.of(__name__="metric_a"), int(now * 1000), 1.0 + i)
            daemon.storage.append(Labels.of(__name__="metric_b"), int(now * 1000), 10.0 + i)
            daemon.cycle(now)
        for name, expected in (("job:a:sum", [1.0, 2.0, 3.0]), ("job:b:sum", [10.0, 11.0, 12.0])):
            (series,) = daemon.storage.select([Matcher("__name__", MatchOp.EQ, name)], 0, 2_000_000)
            assert list(series.values) == expected, name
            assert not any(math.isnan(v) for v in series.values)
    finally:
        daemon.close()
        daemon.store.close()


def daemon_with(tmp_path: Path, rules: str, storage: str = "{db: t.db}") -> Daemon:
    (tmp_path / "r.rules.yml").write_text(textwrap.dedent(rules))
    (tmp_path / "t.yaml").write_text(
        f"storage: {storage}\nrule_files: ['*.rules.yml']\nevaluation_interval: 10s\n"
    )
    return build(load_config(tmp_path / "t.yaml"), sources=[])


def instant(daemon: Daemon, expr: str, now: float) -> list[tuple[dict[str, str], float]]:
    return sorted((dict(labels), v) for labels, v in daemon.query(expr, now))


def test_alerts_series_show_pending_and_firing_alerts_and_go_stale(tmp_path: Path) -> None:
    daemon = daemon_with(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - alert: Down
                expr: up == 0
                for: 20s
                labels: {severity: P1}
        """,
    )
    up = Labels.of(__name__="up", job="api")
    try:
        states = []
        for i, value in enumerate((0.0, 0.0, 0.0, 1.0)):
            now = 1000.0 + 10 * i
            daemon.storage.append(up, int(now * 1000), value)
            daemon.cycle(now)
            states.append(instant(daemon, "ALERTS", now))
        alert = {"alertname": "Down", "job": "api", "severity": "P1", "__name__": "ALERTS"}
        assert states == [
            [({**alert, "alertstate": "pending"}, 1.0)],
            [({**alert, "alertstate": "pending"}, 1.0)],
            [({**alert, "alertstate": "firing"}, 1.0)],
            [],  # resolved: marked stale at once, not after the 5m lookback
        ]
        assert instant(daemon, "ALERTS_FOR_STATE", 1020.0) == [
            ({"alertname": "Down", "job": "api", "severity": "P1", "__name__": "ALERTS_FOR_STATE"}, 1000.0)
        ]
        assert instant(daemon, 'count(ALERTS{alertstate="firing"})', 1020.0) == [({}, 1.0)]
    finally:
        daemon.close()
        daemon.store.close()


def test_alerts_series_are_queryable_in_rule_unit_tests(tmp_path: Path) -> None:
    from triaged.rules.rule_tests import run_rule_test_file

    (tmp_path / "r.rules.yml").write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: Down\n        expr: up == 0\n        for: 1m\n        labels: {severity: P1}\n"
    )
    test = tmp_path / "r.test.yml"
    test.write_text(
        textwrap.dedent(
            """\
            rule_files: [r.rules.yml]
            evaluation_interval: 1m
            tests:
              - input_series:
                  - series: 'up{job="api"}'
                    values: '0 0 0'
                promql_expr_test:
                  - expr: count(ALERTS)
                    eval_time: 0m
                    exp_samples: [{value: 1}]
                  - expr: ALERTS
                    eval_time: 2m
                    exp_samples:
                      - labels: 'ALERTS{alertname="Down", alertstate="firing", job="api", severity="P1"}'
                        value: 1
            """
        )
    )
    result = run_rule_test_file(test)
    assert result.ok, result.failures


def test_reload_raises_retention_for_a_longer_range(tmp_path: Path) -> None:
    daemon = daemon_with(tmp_path, "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n")
    try:
        assert daemon.storage.limits.retention_ms == 15 * 60 * 1000
        (tmp_path / "r.rules.yml").write_text(
            "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: avg_over_time(x[1h])\n"
        )
        assert daemon.reload().ok
        assert daemon.storage.limits.retention_ms is not None
        assert daemon.storage.limits.retention_ms >= 3600 * 1000
        # Back to a short rule: the retention is not lowered under what was kept.
        (tmp_path / "r.rules.yml").write_text(
            "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n"
        )
        daemon.reload()
        assert daemon.storage.limits.retention_ms >= 3600 * 1000
    finally:
        daemon.close()
        daemon.store.close()


def test_reload_keeps_an_explicit_retention(tmp_path: Path) -> None:
    daemon = daemon_with(
        tmp_path, "groups:\n  - name: g\n    rules: []\n", storage="{db: t.db, retention: 20m}"
    )
    try:
        (tmp_path / "r.rules.yml").write_text(
            "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: avg_over_time(x[1h])\n"
        )
        daemon.reload()
        assert daemon.storage.limits.retention_ms == 20 * 60 * 1000
    finally:
        daemon.close()
        daemon.store.close()


def test_a_removed_recording_rule_goes_stale_at_reload(tmp_path: Path) -> None:
    daemon = daemon_with(tmp_path, "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n")
    try:
        daemon.storage.append(Labels.of(__name__="up"), 1_000_000, 1.0)
        daemon.cycle(1000.0)
        assert instant(daemon, "a", 1000.0) == [({"__name__": "a"}, 1.0)]
        (tmp_path / "r.rules.yml").write_text("groups:\n  - name: g\n    rules: []\n")
        daemon.clock = FakeClock(1005.0)
        daemon.reload()
        assert instant(daemon, "a", 1005.0) == []
    finally:
        daemon.close()
        daemon.store.close()


def test_a_reload_whose_glob_matches_nothing_names_the_config_line_and_keeps_the_rules(
    tmp_path: Path,
) -> None:
    daemon = daemon_with(tmp_path, "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n")
    try:
        cfg = tmp_path / "t.yaml"
        cfg.write_text("storage: {db: t.db}\nevaluation_interval: 10s\nrule_files: ['rulez/*.yml']\n")
        result = daemon.reload(load_config(cfg))
        assert not result.ok
        assert [str(e) for e in result.errors] == [
            f"{cfg}:3: rule_files: 'rulez/*.yml' matches no file: directory {tmp_path / 'rulez'} does not exist"
        ]
        assert [r.name for g in daemon.rules.groups for r in g.rules] == ["a"]  # the old rules still run
    finally:
        daemon.close()
        daemon.store.close()
