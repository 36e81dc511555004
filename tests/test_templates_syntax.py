"""Go text/template syntax in alert templates: trimming, comments, literals, pipelines,
control structures, variables, comparisons and truthiness, as Go's text/template does."""

import pytest

from triaged.rules.templates import TemplateData, check_template, render

DATA = TemplateData(labels={"b": "2", "a": "1", "service": "api"}, value=0.75)


def cases(*pairs: tuple[str, str]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("template", "expected"), list(pairs))


def check(template: str, expected: str, data: TemplateData = DATA) -> None:
    check_template(template)
    assert render(template, data) == expected


@cases(
    ("a  \n {{- 1 }}", "a1"),
    ("{{ 1 -}} \n\t b", "1b"),
    ("a {{- /* comment */ -}} b", "ab"),
    ("{{/* comment */}}x", "x"),
    ("{{/* a comment\nover lines */}}x", "x"),
    ("{{- /* left only */}} x", " x"),
    ("{{-3}}", "-3"),  # no space after the dash: a negative number, not a trim marker
    ("{{ 3 }} {{- 4 }}", "34"),
    ("Summary:\n{{- if true }}\n  up\n{{- end }}\n", "Summary:\n  up\n"),
)
def test_trim_markers_and_comments(template: str, expected: str) -> None:
    check(template, expected)


@cases(
    ('{{ printf "%s | %s" "a" "b" }}', "a | b"),
    ('{{ `raw "q" | \\n` }}', 'raw "q" | \\n'),
    ('{{ "tab\\there" }}', "tab\there"),
    ('{{ "\\u00e9\\x41\\"" }}', 'éA"'),
    ('{{ "}}" }}', "}}"),
    ("{{ 'a' }}", "97"),
    ("{{ 0x10 }} {{ 017 }} {{ 1_000 }} {{ 1e3 }} {{ -2.5 }} {{ +3 }}", "16 15 1000 1000 -2.5 3"),
    ("{{ true }} {{ false }}", "true false"),
    ('{{ (printf "%s-%s" "a" "b") | toUpper }}', "A-B"),
    ('{{ $labels.service | toUpper | printf "%s!" }}', "API!"),
    ("{{ .Labels.service }}{{ $.Labels.service }}", "apiapi"),
    ('{{ printf\n  "%s"\n  $labels.a }}', "1"),
)
def test_tokens_and_pipelines(template: str, expected: str) -> None:
    check(template, expected)


@cases(
    ("{{ if gt $value 0.5 }}high{{ end }}", "high"),
    ("{{ if lt $value 0.5 }}low{{ else }}high{{ end }}", "high"),
    ("{{ if gt $value 0.9 }}a{{ else if gt $value 0.5 }}b{{ else }}c{{ end }}", "b"),
    ("{{ if gt $value 0.9 }}a{{ else if gt $value 0.8 }}b{{ else }}c{{ end }}", "c"),
    ("{{ with $labels.service }}svc={{ . }}{{ end }}", "svc=api"),
    ("{{ with $labels.nope }}x{{ else }}none{{ end }}", "none"),
    ("{{ with $labels.nope }}x{{ else with $labels.a }}a={{ . }}{{ end }}", "a=1"),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", "a=1 b=2 service=api "),
    ("{{ range $v := $labels }}{{ $v }},{{ end }}", "1,2,api,"),
    ("{{ range $labels }}{{ . }},{{ end }}", "1,2,api,"),
    ("{{ range $externalLabels }}x{{ else }}empty{{ end }}", "empty"),
    ("{{ range 3 }}{{ . }}{{ end }}", "012"),
    ('{{ range $i, $k := $labels }}{{ if eq $k "2" }}{{ continue }}{{ end }}{{ $k }}{{ end }}', "1api"),
    ("{{ range $labels }}{{ . }}{{ break }}{{ end }}", "1"),
    ('{{ $x := "a" }}{{ if true }}{{ $x := "b" }}{{ $x }}{{ end }}{{ $x }}', "ba"),
    ('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}', "b"),
    ("{{ if $v := $labels.a }}{{ $v }}{{ end }}", "1"),
    ('{{ define "row" }}<{{ . }}>{{ end }}{{ template "row" $labels.a }}{{ template "row" "x" }}', "<1><x>"),
    ('{{ block "b" $value }}[{{ . }}]{{ end }}', "[0.75]"),
    # A template called without data reads fields of nothing as Go does (promtool 2.42).
    ('{{ define "row" }}[{{ . }}|{{ .Labels.job }}]{{ end }}{{ template "row" }}', "[<no value>|<no value>]"),
)
def test_control_structures(template: str, expected: str) -> None:
    check(template, expected)


@cases(
    ('{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ eq $value 0.75 }} {{ ne "a" "b" }}', "true true true true"),
    ('{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge "b" "a" }}', "true true false true"),
    ('{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" 3 }} {{ or 0 "" }} {{ not 0 }}', "0 2 3  true"),
    ('{{ or $labels.nope "default" }}', "default"),
    ('{{ if and $labels.service (eq $labels.service "api") }}yes{{ end }}', "yes"),
    ('{{ len "héllo" }} {{ len $labels }}', "6 3"),
    ('{{ index $labels "a" }} {{ index "abc" 1 }}', "1 98"),
    ('{{ slice "abcdef" 1 3 }}', "bc"),
    ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
    ('{{ println 1 "a" }}', "1 a\n"),
    ('{{ js "it\'s <b>" }}', "it\\'s \\u003Cb\\u003E"),
)
def test_builtin_functions(template: str, expected: str) -> None:
    check(template, expected)


@pytest.mark.parametrize(
    ("condition", "truth"),
    [
        ("0", False),
        ("1", True),
        ("0.0", False),
        ('""', False),
        ('"0"', True),
        ("$labels.nope", False),
        ("$labels", True),
        ("$externalLabels", False),
        ("false", False),
        (".", True),  # a struct is always true
    ],
)
def test_go_truthiness(condition: str, truth: bool) -> None:
    check(f"{{{{ if {condition} }}}}T{{{{ else }}}}F{{{{ end }}}}", "T" if truth else "F")


def test_nil_is_not_a_condition() -> None:
    assert render("{{ if nil }}x{{ end }}", DATA) == "<error expanding template: nil is not a command>"


def test_comparing_a_float_with_an_int_is_an_error_as_in_prometheus() -> None:
    """`.Value` is a float64 and `1` an int: Go refuses to compare them (write 1.0)."""
    out = render("{{ if gt $value 1 }}x{{ end }}", DATA)
    assert out == "<error expanding template: error calling gt: incompatible types for comparison>"
    check("{{ if gt $value 1.0 }}x{{ else }}y{{ end }}", "y")


def test_render_never_raises_even_on_an_evaluator_corner() -> None:
    # A bare function as an argument once escaped as IndexError; a rule must not fail for it.
    assert render("{{ print le }}", TemplateData({}, 1.0)).startswith("<error expanding template:")
