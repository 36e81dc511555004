"""`triaged rules test` semantics: what passes, what fails, and what the failure says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from triaged.rules.rule_tests import format_file_result, run_rule_test_file

WriteFiles = Callable[..., Path]  # the `write_files` fixture (conftest.py)

PASSING = """\
rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="prometheus", instance="localhost:9090"}'
        values: '0x14'
      - series: 'up{job="node", instance="localhost:9100"}'
        values: '1x6 0x8'
    alert_rule_test:
      - eval_time: 10m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: P0, instance: "localhost:9090", job: prometheus}
            exp_annotations:
              summary: Instance localhost:9090 down
              description: localhost:9090 of job prometheus has been down for 5 minutes.
"""


def test_passing_file_reports_success(write_files: WriteFiles) -> None:
    result = run_rule_test_file(write_files(PASSING))
    assert result.ok, result.failures
    assert result.groups_run == 1
    assert format_file_result(result).splitlines()[1] == "  SUCCESS"


def test_wrong_expectation_fails_with_readable_diff(write_files: WriteFiles) -> None:
    test = PASSING.replace("severity: P0", "severity: P1").replace("eval_time: 10m", "eval_time: 12m30s")
    result = run_rule_test_file(write_files(test))
    assert not result.ok
    text = format_file_result(result)
    assert "  FAILED:" in text
    assert "alertname: InstanceDown, time: 12m30s," in text
    # At 12m30s the node exporter (down since 7m) fires as well; labels print sorted.
    assert (
        'Labels:{alertname="InstanceDown", instance="localhost:9090", job="prometheus", severity="P1"}'
    ) in text.split("got:")[0]
    got = text.split("got:")[1]
    assert 'Labels:{alertname="InstanceDown", instance="localhost:9100", job="node", severity="P0"}' in got
    assert 'missing (expected, not firing): {alertname="InstanceDown", instance="localhost:9090"' in text
    assert 'unexpected (firing, not expected): {alertname="InstanceDown", instance="localhost:9100"' in text


def test_single_alert_mismatch_names_the_differing_label_and_annotation(write_files: WriteFiles) -> None:
    test = PASSING.replace("severity: P0", "severity: P2").replace(
        "summary: Instance localhost:9090 down", "summary: Instance 9090 down"
    )
    text = format_file_result(run_rule_test_file(write_files(test)))
    assert 'labels: -severity="P2" +severity="P0"' in text
    assert 'annotation summary:\n              exp: "Instance 9090 down"\n' in text
    assert 'got: "Instance localhost:9090 down"' in text


def test_for_needs_the_stepping_pending_alerts_do_not_count(write_files: WriteFiles) -> None:
    """up == 0 from 0m with `for: 5m`: pending at 4m (nothing firing), firing at 5m."""
    test = """\
    rule_files: [alerts.yml]
    tests:
      - input_series:
          - series: 'up{job="api", instance="a:1"}'
            values: '0x10'
        alert_rule_test:
          - eval_time: 4m
            alertname: InstanceDown
            exp_alerts: []
          - eval_time: 5m
            alertname: InstanceDown
            exp_alerts:
              - exp_labels: {severity: P0, instance: "a:1", job: api}
                exp_annotations:
                  summary: Instance a:1 down
                  description: a:1 of job api has been down for 5 minutes.
    """
    assert run_rule_test_file(write_files(test)).ok
    # Expecting it at 4m is a failure: the alert is only pending then.
    early = run_rule_test_file(write_files(test.replace("eval_time: 5m", "eval_time: 4m59s")))
    assert [f.splitlines()[0] for f in early.failures] == ["    alertname: InstanceDown, time: 4m59s,"]
    assert "got:[]" in early.failures[0]


def test_eval_time_between_steps_uses_the_step_before(write_files: WriteFiles) -> None:
    """With a 2m evaluation interval the 5m check sees the 4m evaluation: not firing yet."""
    test = """\
    rule_files: [alerts.yml]
    evaluation_interval: 2m
    tests:
      - interval: 1m
        input_series:
          - series: 'up{job="api", instance="a:1"}'
            values: '0x10'
        alert_rule_test:
          - eval_time: 5m
            alertname: InstanceDown
            exp_alerts: []
    """
    assert run_rule_test_file(write_files(test)).ok


def test_missing_samples_and_stale_markers(write_files: WriteFiles) -> None:
    """`_` leaves a gap the 5m lookback bridges; `stale` ends the series (and the alert) at once."""
    test = """\
    rule_files: [alerts.yml]
    tests:
      - input_series:
          - series: 'up{job="api", instance="a:1"}'
            values: '0 _x3 0 0 stale'
        alert_rule_test:
          - eval_time: 5m
            alertname: InstanceDown
            exp_alerts:
              - exp_labels: {severity: P0, instance: "a:1", job: api}
                exp_annotations:
                  summary: Instance a:1 down
                  description: a:1 of job api has been down for 5 minutes.
          - eval_time: 6m
            alertname: InstanceDown
            exp_alerts: []
        promql_expr_test:
          - expr: up
            eval_time: 3m
            exp_samples:
              - labels: 'up{job="api", instance="a:1"}'
                value: 0
          - expr: count(up)
            eval_time: 6m
            exp_samples: []
    """
    result = run_rule_test_file(write_files(test))
    assert result.ok, result.failures


def test_promql_expr_test_passes_and_fails_with_both_sides_shown(write_files: WriteFiles) -> None:
    test = """\
    rule_files: [alerts.yml]
    tests:
      - name: goroutines
        interval: 1m
        input_series:
          - series: 'go_goroutines{job="prometheus", instance="localhost:9090"}'
            values: '10+10x2 30+20x5'
          - series: 'go_goroutines{job="node", instance="localhost:9100"}'
            values: '10+10x7 10+30x4'
        promql_expr_test:
          - expr: go_goroutines > 5
            eval_time: 4m
            exp_samples:
              - labels: 'go_goroutines{job="prometheus",instance="localhost:9090"}'
                value: 50
              - labels: 'go_goroutines{job="node",instance="localhost:9100"}'
                value: 50
          - expr: scalar(sum(go_goroutines)) / 4
            eval_time: 1m
            exp_samples:
              - value: 10
    """
    assert run_rule_test_file(write_files(test)).ok
    result = run_rule_test_file(write_files(test.replace("value: 10\n", "value: 11\n")))
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert failure.startswith("    name: goroutines,\n")
    assert 'expr: "scalar(sum(go_goroutines)) / 4", time: 1m,' in failure
    assert "exp: {} 11\n" in failure
    assert failure.endswith("got: {} 10")


def test_query_error_is_reported_per_case(write_files: WriteFiles) -> None:
    test = """\
    rule_files: [alerts.yml]
    tests:
      - promql_expr_test:
          - expr: 'up[5m]'
            eval_time: 0m
    """
    result = run_rule_test_file(write_files(test))
    assert len(result.failures) == 1
    assert result.failures[0].startswith('    expr: "up[5m]", time: 0s, err: ')


def test_unknown_alertname_never_passes_silently(write_files: WriteFiles) -> None:
    test = """\
    rule_files: [alerts.yml]
    tests:
      - alert_rule_test:
          - eval_time: 1m
            alertname: InstanceDwon
            exp_alerts: []
    """
    result = run_rule_test_file(write_files(test))
    assert result.failures == [
        "    alertname: InstanceDwon, time: 1m,\n        err: no alerting rule with this name in rule_files"
    ]


RECORDING = """\
groups:
  - name: alerts
    rules:
      - alert: ErrorRatioHigh
        expr: job:errors:ratio > 0.1
        labels: {severity: P2}
        annotations:
          summary: "{{ $value | humanizePercentage }} errors in {{ $externalLabels.region }}"
  - name: recording
    rules:
      - record: job:errors:ratio
        expr: sum by (job) (errors) / sum by (job) (requests)
"""


def test_group_eval_order_recording_rules_and_external_labels(write_files: WriteFiles) -> None:
    """Recorded series feed later groups in the same step only when ordered first."""
    test = """\
    rule_files: [alerts.yml]
    group_eval_order: [recording, alerts]
    tests:
      - external_labels: {region: ap-mumbai-1}
        input_series:
          - series: 'errors{job="api"}'
            values: '0 5'
          - series: 'requests{job="api"}'
            values: '100 20'
        alert_rule_test:
          - eval_time: 1m
            alertname: ErrorRatioHigh
            exp_alerts:
              - exp_labels: {severity: P2, job: api}
                exp_annotations: {summary: "25% errors in ap-mumbai-1"}
        promql_expr_test:
          - expr: job:errors:ratio
            eval_time: 1m
            exp_samples:
              - labels: 'job:errors:ratio{job="api"}'
                value: 0.25
    """
    assert run_rule_test_file(write_files(test, RECORDING)).ok
    # In file order the alert group runs first and still sees 0 % at 1m.
    in_file_order = test.replace("    group_eval_order: [recording, alerts]\n", "")
    unordered = run_rule_test_file(write_files(in_file_order, RECORDING))
    assert len(unordered.failures) == 1
    assert "alertname: ErrorRatioHigh, time: 1m," in unordered.failures[0]


def test_rule_evaluation_error_stops_the_group(write_files: WriteFiles) -> None:
    rules = """\
    groups:
      - name: g
        rules:
          - alert: Dup
            expr: label_replace(up, "job", "x", "", "")
    """
    test = """\
    rule_files: [alerts.yml]
    tests:
      - input_series:
          - series: 'up{job="a"}'
            values: '1'
          - series: 'up{job="b"}'
            values: '1'
        alert_rule_test:
          - eval_time: 0m
            alertname: Dup
            exp_alerts: []
    """
    result = run_rule_test_file(write_files(test, rules))
    assert len(result.failures) == 1
    assert result.failures[0].startswith("    rule: Dup, time: 0s, err: ")


def test_run_filter_selects_groups_by_name(write_files: WriteFiles, tmp_path: Path) -> None:
    import re

    test = PASSING.replace("  - interval: 1m\n", "  - name: instance down\n    interval: 1m\n", 1)
    path = write_files(test.replace("severity: P0", "severity: P1"))
    assert run_rule_test_file(path, re.compile("^other")).groups_run == 0
    assert not run_rule_test_file(path, re.compile("instance")).ok


def test_annotation_only_mismatch_names_the_annotation(write_files: WriteFiles) -> None:
    test = PASSING.replace("description: localhost:9090 of job", "description: 9090 of job")
    [failure] = run_rule_test_file(write_files(test)).failures
    diff = failure.split("diff:\n", 1)[1]
    assert diff.splitlines() == [
        '            alert {alertname="InstanceDown", instance="localhost:9090", job="prometheus", severity="P0"}:',
        "              annotation description:",
        '                exp: "9090 of job prometheus has been down for 5 minutes."',
        '                got: "localhost:9090 of job prometheus has been down for 5 minutes."',
    ]
