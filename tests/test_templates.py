"""Alert templates render as Prometheus renders them; broken ones fail at load time.

Expected outputs come from Prometheus' own tests (template/template_test.go,
prometheus/common helpers/templates) and Go's fmt rules. Syntax and control flow are in
test_templates_syntax.py, printf in test_templates_printf.py.
"""

import math

import pytest

from triaged.rules.templates import TemplateData, TemplateError, check_template, expand, render

DATA = TemplateData(labels={"service": "api", "instance": "10.0.0.1:80"}, value=0.7412)


def value(v: float, template: str = "{{ $value }}") -> str:
    return render(template, TemplateData(labels={}, value=v))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ $labels.service }} is slow", "api is slow"),
        ("{{ $value }}", "0.7412"),
        ("{{ $value | humanizeDuration }}", "741.2ms"),
        ("{{ humanizePercentage $value }}", "74.12%"),
        ("{{ $value | humanize }}", "741.2m"),
        ('{{ printf "%.1f" $value }}', "0.7"),
        ("{{ humanizeDuration 3725 }}", "1h 2m 5s"),
        ("{{ $labels.missing }}", ""),
        ("no template", "no template"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


def test_humanize_large_values() -> None:
    assert render("{{ humanize 1234567 }}", DATA) == "1.235M"


@pytest.mark.parametrize("bad", ["{{ $nope }}", "{{ frobnicate $value }}", "{{ }}", "{{ printf }}"])
def test_bad_templates_fail_at_check_time(bad: str) -> None:
    with pytest.raises(TemplateError):
        check_template(bad)


# Go prints a float64 with %v: the shortest digits that read back, in exponent form
# when the exponent is below -4 or at least 6 (strconv 'g', precision -1).
@pytest.mark.parametrize(
    ("v", "expected"),
    [
        (1234567, "1.234567e+06"),
        (0.30000000000000004, "0.30000000000000004"),
        (100000, "100000"),
        (1e6, "1e+06"),
        (1e21, "1e+21"),
        (5.0, "5"),
        (-0.5, "-0.5"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-05"),
        (0.0, "0"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_value_prints_like_go(v: float, expected: str) -> None:
    assert value(v) == expected
    assert value(v, "{{ .Value }}") == expected


HUMANIZE_DURATION = [
    (0, "0s"),
    (1, "1s"),
    (60, "1m 0s"),
    (3600, "1h 0m 0s"),
    (86400, "1d 0h 0m 0s"),
    (86400 + 3600, "1d 1h 0m 0s"),
    (-(86400 * 2 + 3600 * 3 + 60 * 4 + 5), "-2d 3h 4m 5s"),
    (899.99, "14m 59s"),
    (0.1, "100ms"),
    (0.0001, "100us"),
    (0.12345, "123.5ms"),
    (60.1, "1m 0s"),
    (60.5, "1m 0s"),
    (1.2345, "1.234s"),
    (12.345, "12.35s"),
    (-1, "-1s"),
    (1234567, "14d 6h 56m 7s"),
    (-0.5, "-500ms"),
    (math.inf, "+Inf"),
    (math.nan, "NaN"),
]


@pytest.mark.parametrize(("v", "expected"), HUMANIZE_DURATION)
def test_humanize_duration(v: float, expected: str) -> None:
    assert value(v, "{{ humanizeDuration $value }}") == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ humanizeDuration "3600" }}', "1h 0m 0s"),
        ('{{ humanizeDuration ".1" }}', "100ms"),
        ("{{ humanizeDuration 86400 }}", "1d 0h 0m 0s"),
        ("{{ humanize 0 }}:{{ humanize 1 }}:{{ humanize 1234567.0 }}:{{ humanize .12 }}", "0:1:1.235M:120m"),
        ("{{ humanize -1234 }} {{ humanize 1e-30 }}", "-1.234k 1e-06y"),
        (
            "{{ humanize1024 0 }}:{{ humanize1024 1 }}:{{ humanize1024 1048576 }}:{{ humanize1024 .12 }}",
            "0:1:1Mi:0.12",
        ),
        (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
            "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        ("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ 0 | humanizeTimestamp }}", "1970-01-01 00:00:00 +0000 UTC"),
        ("{{ toTime 1435065584.128 }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        ('{{ humanize "1234567" }}', "1.235M"),
    ],
)
def test_humanize_family(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize("v", [math.inf, -math.inf, math.nan])
def test_humanize_functions_pass_inf_and_nan_through(v: float) -> None:
    text = "{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{ humanizeTimestamp . }}"
    want = "NaN" if math.isnan(v) else "+Inf" if v > 0 else "-Inf"
    assert value(v, "{{ with $value }}" + text + "{{ end }}") == ":".join([want] * 4)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ "aa bb CC" | title }}', "Aa Bb CC"),
        ('{{ title "hELLO wORLD" }}', "HELLO WORLD"),
        ('{{ "aa bb CC" | toUpper }}', "AA BB CC"),
        ('{{ "aA bB CC" | toLower }}', "aa bb cc"),
        ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', "true false"),
        ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', "xa"),
        ('{{ reReplaceAll "localhost:(.*)" "my.domain:$1" "localhost:3000" }}', "my.domain:3000"),
        ('{{ graphLink "up" }}', "/graph?g0.expr=up&g0.tab=0"),
        ('{{ tableLink "up" }}', "/graph?g0.expr=up&g0.tab=1"),
        ('{{ stripPort "foo.example.com:12345" }}', "foo.example.com"),
        ('{{ stripPort "[2001:0DB8::1]:12345" }}', "2001:0DB8::1"),
        ('{{ stripPort "foo.example.com" }}', "foo.example.com"),
        ('{{ stripPort "192.0.2.1:12345" }}', "192.0.2.1"),
        ('{{ stripDomain "foo.example.com" }}', "foo"),
        ('{{ stripDomain "foo.example.com:12345" }}', "foo:12345"),
        ('{{ stripDomain "192.0.2.1:12345" }}', "192.0.2.1:12345"),
        ('{{ stripDomain "[2001:0DB8::1]:12345" }}', "[2001:0DB8::1]:12345"),
        ('{{ printf "%0.2f" (parseDuration "1h2m10ms") }}', "3720.01"),
        ('{{ parseDuration "5m" }}', "300"),
        ('{{ "<b>" | safeHtml }}', "<b>"),
        ('{{ urlquery "a b&c" }}', "a+b%26c"),
        ("{{ html \"<a href='x'>&</a>\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
        ("{{ pathPrefix }} {{ externalURL }}", "/path/prefix http://testhost:9090/path/prefix"),
    ],
)
def test_string_functions(template: str, expected: str) -> None:
    data = TemplateData(labels={}, value=0, external_url="http://testhost:9090/path/prefix")
    assert render(template, data) == expected


def test_dot_and_its_variables() -> None:
    data = TemplateData(
        labels={"job": "api"},
        value=2.5,
        external_labels={"region": "ap-mumbai-1"},
        external_url="http://prom",
    )
    text = "{{ .Labels.job }} {{ .Value }} {{ .ExternalLabels.region }} {{ .ExternalURL }}|"
    text += "{{ $labels.job }} {{ $value }} {{ $externalLabels.region }} {{ $externalURL }}"
    assert render(text, data) == "api 2.5 ap-mumbai-1 http://prom|api 2.5 ap-mumbai-1 http://prom"


def test_name_label_is_shown_when_the_caller_passes_it() -> None:
    """Prometheus gives templates the result sample's labels, __name__ included when the
    expression keeps it (`up == 0` does); only the alert's own labels drop it."""
    data = TemplateData(labels={"__name__": "up", "job": "api"}, value=0)
    assert render("{{ $labels.__name__ }} {{ $labels }}", data) == "up map[__name__:up job:api]"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Prometheus sets missingkey=zero: a missing label is the string zero value.
        ("[{{ $labels.nope }}]", "[]"),
        ("[{{ .Labels.nope }}]", "[]"),
        ('[{{ index $labels "nope" }}]', "[]"),
        ("[{{ $externalLabels.nope }}]", "[]"),
        # args builds a map[string]interface{}: its zero value is nil, printed <no value>.
        ("[{{ (args 1).nope }}]", "[<no value>]"),
        ('{{ args 1 "x" }}', "map[arg0:1 arg1:x]"),
    ],
)
def test_missing_keys(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


def fake_query(expr: str) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    if expr == "missing":
        return []
    if expr == "1.5":
        return [((), 1.5)]
    return [
        ((("__name__", "metric"), ("instance", "b")), 21),
        ((("__name__", "metric"), ("instance", "a")), 11),
    ]


QUERY_DATA = TemplateData(labels={}, value=0, query=fake_query)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ query "1.5" | first | value }}', "1.5"),
        ('{{ query "metric" | first | value }}', "21"),
        ('{{ query "metric" | first | label "instance" }}', "b"),
        ('{{ query "metric" | first | label "foo" }}', ""),
        ('{{ $x := query "metric" | first }}{{ $x.Labels.foo }}', ""),
        ('{{ query "metric" | first | strvalue }}', ""),
        (
            '{{ range query "metric" | sortByLabel "instance" }}{{ .Labels.instance }}:{{ .Value }}: {{ end }}',
            "a:11: b:21: ",
        ),
        ('{{ (query "metric" | first).Labels.instance }}', "b"),
        ('{{ with query "missing" }}some{{ else }}none{{ end }}', "none"),
        ('{{ query "metric" | len }}', "2"),
        ('{{ query "metric" | first }}', "{map[__name__:metric instance:b] 21}"),
    ],
)
def test_query_functions(template: str, expected: str) -> None:
    check_template(template)
    assert render(template, QUERY_DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ query "missing" | first }}', "first() called on vector with no elements"),
        ('{{ (query "missing").banana }}', "can't evaluate field banana"),
        ('{{ humanize "abc" }}', 'strconv.ParseFloat: parsing "abc": invalid syntax'),
        ("{{ $labels.v | humanize }}", 'parsing ""'),
        ("{{ toUpper 5 }}", "expected string; got int"),
        ('{{ match "(" "a" }}', "error parsing regexp"),
        ('{{ parseDuration "1.5h" }}', "not a valid duration string"),
        ("{{ .Nope }}", "can't evaluate field Nope"),
        ("{{ $labels.a.b }}", "can't evaluate field b in type string"),
        ("{{ nil }}", "nil is not a command"),
        ('{{ template "nope" }}', 'no such template "nope"'),
    ],
)
def test_evaluation_errors_are_rendered_into_the_text(template: str, message: str) -> None:
    check_template(template)
    out = render("before " + template + " after", QUERY_DATA)
    assert out.startswith("<error expanding template: ") and out.endswith(">"), out
    assert message in out
    with pytest.raises(TemplateError, match=r"error|can't|nil|no such"):
        expand(template, QUERY_DATA)


def test_query_without_an_engine_fails_at_render_time_not_load_time() -> None:
    check_template('{{ query "up" | first | value }}')
    assert render('{{ query "up" | first | value }}', DATA).startswith("<error expanding template: ")


@pytest.mark.parametrize(
    "bad",
    [
        "{{ $value | humanise }}",
        "{{ $labels.job | tolower }}",
        "{{ $labels.instance ",
        "{{ if $value }}open",
        "{{ end }}",
        "{{ else }}",
        '{{ "unterminated }}',
        "{{ $labels.job | }}",
        "{{ 1 | 2 }}",
        "{{ break }}",
        "{{/* unclosed comment }}",
        "{{ range $a, $b, $c := $labels }}{{ end }}",
        "{{ humanize }}",
        "{{ humanize 1 2 }}",
        "{{ 1 | humanize 2 }}",
        "{{ eq 1 }}",
        "{{ 09 }}",
        "{{ $labels.job @ }}",
    ],
)
def test_load_time_errors(bad: str) -> None:
    with pytest.raises(TemplateError):
        check_template(bad)


@pytest.mark.parametrize(
    "good",
    [
        "{{ $labels.v | humanize }}",
        '{{ printf "%.0f" $labels.v }}',
        '{{ query "up" | first | value | humanize }}',
        "{{ if gt $value 0.5 }}high{{ else }}ok{{ end }}",
        '{{ define "x" }}{{ . }}{{ end }}{{ template "x" $value }}',
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
        "{{/* a comment */}}",
    ],
)
def test_valid_templates_load_without_evaluating(good: str) -> None:
    check_template(good)


def test_unknown_function_error_names_it() -> None:
    with pytest.raises(TemplateError, match='function "humanise" not defined'):
        check_template("{{ $value | humanise }}")


def test_output_is_bounded() -> None:
    out = render("{{ range 100000 }}xxxxxxxxxx{{ end }}", DATA)
    assert out.startswith("<error expanding template: output longer than")
