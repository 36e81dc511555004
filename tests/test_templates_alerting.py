"""Templates inside an alerting rule: one broken annotation does not stop the rule."""

from triaged.model import Labels
from triaged.rules.alerting import AlertingRule, AlertState
from triaged.rules.format import RuleSpec


def test_a_failing_annotation_renders_the_error_and_the_alert_still_fires() -> None:
    spec = RuleSpec(
        name="Slow", expr="latency > 0.5", kind="alert", file="f.yml", line=1, group="g",
        labels={"severity": "P1", "team": "{{ $labels.service }}-oncall"},
        annotations={
            "summary": "{{ $labels.service }}: {{ $value | humanizeDuration }}",
            "broken": '{{ humanize "not a number" }}',
        },
    )  # fmt: skip
    rule = AlertingRule(spec)

    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        return [(Labels.of(__name__="latency", service="api"), 3600.0)]

    (alert,) = rule.eval(0.0, query)
    assert alert.state is AlertState.FIRING  # no `for:`, so it fires at once
    assert alert.labels.get("team") == "api-oncall"
    assert alert.annotations["summary"] == "api: 1h 0m 0s"
    assert alert.annotations["broken"].startswith("<error expanding template: error calling humanize: ")


def test_labels_keep_the_metric_name_and_query_runs_at_evaluation_time() -> None:
    spec = RuleSpec(
        name="Down", expr="up == 0", kind="alert", file="f.yml", line=1, group="g",
        annotations={
            "what": "{{ $labels.__name__ }} of {{ $labels.job }}",
            "fleet": '{{ with query "count(up)" }}{{ . | first | value }} targets{{ end }}',
        },
    )  # fmt: skip
    asked: list[tuple[str, float]] = []

    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        asked.append((expr, now))
        if expr == "count(up)":
            return [(Labels(), 12.0)]
        return [(Labels.of(__name__="up", job="shop"), 0.0)]

    (alert,) = AlertingRule(spec).eval(50.0, query)
    assert alert.annotations == {"what": "up of shop", "fleet": "12 targets"}
    assert "__name__" not in dict(alert.labels)  # the alert itself drops it, as in Prometheus
    assert asked == [("up == 0", 50.0), ("count(up)", 50.0)]
