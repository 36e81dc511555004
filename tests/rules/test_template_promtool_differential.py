"""Alert templates expand exactly as Prometheus expands them: regressions found by
differential testing against promtool 2.42 (``promtool test rules`` with
``exp_annotations``). Every expected text below is what promtool produced for the same
template and data; the comment on each case names the behaviour."""

from __future__ import annotations

import pytest

from triaged.rules.templates import TemplateData, TemplateError, check_template, render

_UP = [
    ({"__name__": "up", "instance": "b:9100", "job": "node", "zone": "z3"}, 1.0),
    ({"__name__": "up", "instance": "a:9100", "job": "node", "zone": "z2"}, 0.0),
    ({"__name__": "up", "instance": "c.example.com:80", "job": "node", "zone": "z1"}, 1.0),
]


def _query(expr: str) -> list[tuple[list[tuple[str, str]], float]]:
    assert expr == "up"
    return [(list(labels.items()), value) for labels, value in _UP]


DATA = TemplateData(
    labels={"job": "node", "instance": "node-1.example.com:9100"},
    value=0.0,
    external_labels={"cluster": "prod-eu", "env": "Prod <main>", "region": "eu-west-1"},
    external_url="https://prom.example.com:9090/sub/path",
    query=_query,
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # %v with a precision is %g with that precision (was a Python format error).
        ('{{ printf "%.2v|%.3v|%10.4v|" 3.14159 1234567.0 0.000123456 }}', "3.1|1.23e+06| 0.0001235|"),
        # A `*` width or precision that is not an int is reported in-band, and the
        # rest of the format still prints (the whole annotation used to be an error).
        ('{{ printf "%*d|%.*f|%*s|" "x" 5 "y" 2.5 3 "ab" }}', "%!(BADWIDTH)5|%!(BADPREC)2.500000| ab|"),
        ('{{ printf "%*d" }}', "%!(BADWIDTH)%!d(MISSING)"),
        # %x, %X and %b of a float: hexadecimal and binary exponent forms.
        (
            '{{ printf "%x|%X|%.1x|%b" 100.0 -2.75 1.9999 1.0 }}',
            "0x1.9p+06|-0X1.6P+01|0x1.0p+01|4503599627370496p-52",
        ),
        # %T prints the Go type.
        ('{{ printf "%T %T %T %T %T" 1 1.5 "s" true $labels }}', "int float64 string bool map[string]string"),
        # A wrong verb prints the value with the directive's flags and width.
        ('{{ printf "[%5x]" true }}', "[%!x(bool= true)]"),
        # Width, flags and verb apply to each key and value of a map.
        ('{{ printf "%6v" $externalLabels }}', "map[cluster:prod-eu    env:Prod <main> region:eu-west-1]"),
        ('{{ printf "%d" (args 1 "a") }}', "map[%!d(string=arg0):1 %!d(string=arg1):%!d(string=a)]"),
        # Explicit argument indexes.
        ('{{ printf "%[2]d %[1]d|%[3]d %d" 1 2 }}', "2 1|%!d(BADINDEX) 2"),
        # %#v is Go syntax; %+v names struct fields.
        (
            '{{ printf "%#v|%#v|%#v" (args 1 "a" nil) "q" 1.0 }}',
            'map[string]interface {}{"arg0":1, "arg1":"a", "arg2":interface {}(nil)}|"q"|1',
        ),
        (
            '{{ printf "%+v" (query "up" | sortByLabel "zone" | first) }}',
            "&{Labels:map[__name__:up instance:c.example.com:80 job:node zone:z1] Value:1}",
        ),
        # The # flag keeps a decimal point and %g's significant zeros.
        ('{{ printf "%#g|%#.3g|%#.2g|%#.0f" 1.5 0.0 -0.0005 3.0 }}', "1.50000|0.00|-0.00050|3."),
        # Flags on %x of a string, %U, %q.
        ('{{ printf "% x|%#x|% #X|%.1x" "hi" "hi" "hi" "hi" }}', "68 69|0x6869|0X68 0X69|68"),
        (
            '{{ printf "%#U|%+q|%#q|%+q|%05s|%-05d|" 233 "é" "a b" 233 "ab" 7 }}',
            "U+00E9 'é'|\"\\u00e9\"|`a b`|'\\u00e9'|000ab|7    |",
        ),
        # An extra nil argument is listed as <nil>, without a type.
        ('{{ printf "%d %d" 1 2 3 nil }}', "1 2%!(EXTRA int=3, <nil>)"),
        # html, js and urlquery print a sample as {{ }} does: the struct, not &{…}.
        (
            '{{ html (query "up" | sortByLabel "zone" | first) }}',
            "{map[__name__:up instance:c.example.com:80 job:node zone:z1] 1}",
        ),
        # reReplaceAll skips an empty match right after a match, as Go's regexp does
        # (Python's re.sub gave "<ab><>").
        (
            '{{ reReplaceAll "(.*)" "<$1>" "ab" }}|{{ reReplaceAll "x*" "-" "abc" }}|'
            '{{ reReplaceAll "a*" "X" "baaa" }}',
            "<ab>|-a-b-c-|XbX",
        ),
        ('{{ $labels.job | reReplaceAll ".*" "[$0]" }}', "[node]"),
        # safeHtml returns a template.HTML: it prints and compares as its text...
        (
            '{{ printf "%T" (safeHtml "a") }}|{{ safeHtml "<b>" }}|{{ eq (safeHtml "a") "a" }}',
            "template.HTML|<b>|true",
        ),
        # ...and an empty define may be given again with a body.
        ('{{ define "a" }} {{ end }}{{ define "a" }}x{{ end }}{{ template "a" }}', "x"),
        # slice cuts a string by bytes, like len and index count them.
        ('{{ slice "ünï" 0 3 }}|{{ slice "ünï" 1 }}|{{ len (slice "ünï" 3) }}', "ün|\ufffdnï|2"),
        # humanize reads a string as strconv.ParseFloat: hex needs a p exponent,
        # `_` may separate digits.
        ('{{ humanize "0x1p4" }}|{{ humanize "1_0" }}|{{ humanize "-Inf" }}', "16|10|-Inf"),
        # toUpper and toLower map each character on its own (simple case mapping).
        ('{{ toUpper "straße ﬁ" }}|{{ toLower "İSTANBUL ΣΑΣ" }}', "STRAßE ﬁ|istanbul σασ"),
    ],
)
def test_expands_as_prometheus(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "error"),
    [
        # A template.HTML is not a string to functions that take one.
        ('{{ safeHtml "x" | toUpper }}', "wrong type for value; expected string; got template.HTML"),
        ('{{ safeHtml "1.5" | humanize }}', "can't convert template.HTML to float"),
        ('{{ slice "ünï" 0 6 }}', "index out of range"),
        ('{{ humanize "0x10" }}', 'strconv.ParseFloat: parsing "0x10": invalid syntax'),
        ('{{ humanize "1e400" }}', 'strconv.ParseFloat: parsing "1e400": value out of range'),
        # A constant between int64 and uint64 parses, and fails when used.
        ("{{ 9223372036854775808 }}", "9223372036854775808 overflows int"),
    ],
)
def test_fails_where_prometheus_fails(template: str, error: str) -> None:
    check_template(template)  # Prometheus loads these; they fail when expanded
    text = render(template, DATA)
    assert text.startswith("<error expanding template: ") and error in text


@pytest.mark.parametrize(
    ("template", "error"),
    [
        # Prometheus refuses to load these rules.
        ('{{ define "t" }}a{{ end }}{{ define "t" }}b{{ end }}', 'multiple definition of template "t"'),
        ('{{ block "b" . }}x{{ end }}{{ block "b" . }}y{{ end }}', 'multiple definition of template "b"'),
        ("{{ 100000000000000000000 }}", 'integer overflow: "100000000000000000000"'),
        ("{{ 1.5e9123 }}", 'illegal number syntax: "1.5e9123"'),
    ],
)
def test_refused_at_load_as_prometheus_refuses(template: str, error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        check_template(template)
