"""YAML 1.1 scalars in string fields keep their text, as Prometheus's Go YAML decoding
keeps it: `no` stays "no", `1.10` stays "1.10", `0x1F` stays "0x1F". Typed config
values (real booleans and numbers) still resolve."""

from __future__ import annotations

import textwrap
from pathlib import Path

from triaged.rules.format import load_rule_file
from triaged.rules.rule_tests import run_rule_test_file
from triaged.yamlfile import load_yaml_text

RULES = """\
groups:
  - name: off
    labels: {tier: 2}
    rules:
      - alert: Off
        expr: up == 0
        labels:
          severity: P2
          paging: no
          version: 1.10
          code: 0x1F
          since: 2024-01-01
          on: yes
        annotations:
          summary: 1.0e+3
      - record: yes
        expr: 1
"""


def test_rule_labels_keep_the_scalars_as_written(tmp_path: Path) -> None:
    path = tmp_path / "x.rules.yml"
    path.write_text(RULES)
    (group,) = load_rule_file(path)
    assert group.name == "off"
    alert, record = group.rules
    assert alert.name == "Off"
    assert dict(alert.labels) == {
        "tier": "2",
        "severity": "P2",
        "paging": "no",
        "version": "1.10",
        "code": "0x1F",
        "since": "2024-01-01",
        "on": "yes",
    }
    assert alert.annotations == {"summary": "1.0e+3"}
    assert (record.name, record.expr) == ("yes", "1")


def test_rule_unit_test_keeps_the_scalars_as_written(tmp_path: Path) -> None:
    (tmp_path / "x.rules.yml").write_text(RULES)
    test = tmp_path / "x.test.yml"
    test.write_text(
        textwrap.dedent(
            """\
            rule_files: [x.rules.yml]
            group_eval_order: [off]
            tests:
              - name: no
                input_series:
                  - series: 'up{job="api"}'
                    values: '0'
                alert_rule_test:
                  - alertname: Off
                    eval_time: 0m
                    exp_alerts:
                      - exp_labels:
                          job: api
                          tier: 2
                          severity: P2
                          paging: no
                          version: 1.10
                          code: 0x1F
                          since: 2024-01-01
                          on: yes
                        exp_annotations: {summary: 1.0e+3}
                promql_expr_test:
                  - expr: 1
                    eval_time: 0m
                    exp_samples: [{value: 1}]
            """
        )
    )
    result = run_rule_test_file(test)
    assert result.groups_run == 1
    assert result.ok, result.failures


def test_typed_values_still_resolve() -> None:
    doc = load_yaml_text("enabled: no\nport: 0x1F\nratio: 1.10\nname: off\nlist: [no, 1.10]\n", "f.yaml")
    assert doc["enabled"] is False and doc["port"] == 31 and doc["ratio"] == 1.1
    assert doc.text("name") == "off" and doc.text("ratio") == "1.10"
    assert doc["list"] == [False, 1.1]
    assert [doc["list"].text(i) for i in range(2)] == ["no", "1.10"]
    assert doc.text("missing") is None


def test_config_string_fields_keep_their_text_too(tmp_path: Path) -> None:
    from triaged.config import load_config

    (tmp_path / "t.yaml").write_text(
        "storage: {db: t.db}\n"
        "targets:\n"
        "  - {job: on, url: 'http://127.0.0.1:1/metrics', labels: {paging: no, version: 1.10}}\n"
    )
    (target,) = load_config(tmp_path / "t.yaml").targets
    assert target.job == "on"
    assert dict(target.labels) == {"paging": "no", "version": "1.10"}
