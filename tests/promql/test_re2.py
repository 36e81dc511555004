"""Regexes are RE2, as in Prometheus: a pattern copied from a Prometheus rule, silence or
template matches the same label values here, or is refused with a reason — it never
quietly matches something else (Python's ``re`` reads ``[[:alpha:]]`` as a set of
characters, ``\\d`` as any Unicode digit, and ``$`` before a final newline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from triaged.alerts.silence import MatcherError, parse_matcher
from triaged.model import Labels
from triaged.promql import Engine, ExprError, Vector
from triaged.rules.format import check_rule_file
from triaged.rules.template_funcs import re_replace_all
from triaged.tsdb.storage import Storage, StorageLimits

T = 60_000
INSTANCES = ("web", "web1", "Web", "ώρα", "١٢", "12", "a.b", "axb", "line\n", "A", "α")


@pytest.fixture(scope="module")
def engine() -> Engine:
    st = Storage(StorageLimits(retention_ms=None))
    for instance in INSTANCES:
        st.append(Labels.of(__name__="up", instance=instance), T, 1)
    return Engine(st)


def selected(engine: Engine, regex: str) -> set[str]:
    result = engine.instant(f'up{{instance=~"{regex}"}}', T)
    assert isinstance(result, Vector)
    return {s.labels.get("instance") for s in result}


@pytest.mark.parametrize(
    ("regex", "matches"),
    [
        ("[[:alpha:]]+", {"web", "Web", "A", "axb"}),  # POSIX classes are ASCII
        ("[[:upper:]][[:lower:]]*", {"Web", "A"}),
        ("[^[:alpha:][:digit:]]+", {"ώρα", "١٢", "α"}),
        ("[[:^alpha:]]+", {"ώρα", "١٢", "12", "α"}),
        (r"\\d+", {"12"}),  # ASCII digits only: not the Arabic-Indic ١٢
        (r"\\w+", {"web", "web1", "Web", "12", "A", "axb"}),
        (r"\\pL+", {"web", "Web", "ώρα", "A", "α", "axb"}),  # Unicode letters
        (r"\\p{Lu}", {"A"}),
        (r"\\PL+", {"١٢", "12"}),
        (r"\\p{Nd}+", {"١٢", "12"}),
        (r"\\x{41}", {"A"}),
        ("w(?i)EB", {"web"}),  # a flag in mid-pattern scopes to the rest
        ("(?i)w(?-i)eb", {"web", "Web"}),
        (r"line\\n", {"line\n"}),
        ("line$", set()),  # $ is the end of the value, not the place before a newline
        ("(?s)line.", {"line\n"}),
        (r"(?m:line$)\\n", {"line\n"}),  # in multi-line mode $ ends a line…
        (r"(?m:l)ine$\\n", set()),  # …only inside the group that sets it
        ("(?<x>web)1?", {"web", "web1"}),  # a named group as Prometheus 3 writes it
        # RE2 forms the PromQL parser's own regex engine refuses; read here all the same.
        (r"\\Qa.b\\E", {"a.b"}),  # quoted: the dot is a dot
        (r"\\101", {"A"}),  # octal
        (r"[\\d-z]+", {"12"}),  # \d then the characters - and z
    ],
)
def test_a_matcher_selects_what_prometheus_selects(engine: Engine, regex: str, matches: set[str]) -> None:
    assert selected(engine, regex) == matches


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        ("web(?=1)", "lookahead (position 3) is not RE2 syntax"),
        (r"(w)\\1", "backreference"),
        ("w++", "possessive quantifier"),
        (r"web\\Z", r"\Z (position 3) is not RE2 syntax"),
        (r"\\u0041", r"\u (position 0) is not RE2 syntax"),
        ("a{1001}", "a repeat count above 1000"),
        ("(?U)a*", "the ungreedy flag U (position 0) is not supported here; write lazy quantifiers"),
        (r"\\p{Greek}", "Unicode class 'Greek' (position 0) is not supported here"),
        ("[[:^alpha:]x]", "use an alternation instead"),
        (r"web\\é", r"\é (position 3) is not RE2 syntax"),  # Python reads it as é
        (r"\\y", r"\y (position 0) is not RE2 syntax"),
    ],
)
def test_what_re2_refuses_is_refused_with_the_reason(engine: Engine, regex: str, reason: str) -> None:
    with pytest.raises(ExprError, match=r"illegal regex|invalid regular expression") as caught:
        engine.instant(f'up{{instance=~"{regex}"}}', T)
    assert reason in str(caught.value)


def test_rules_check_names_the_construct_a_rule_file_uses(tmp_path: Path) -> None:
    path = tmp_path / "r.rules.yml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: A\n        expr: 'up{instance=~\"web(?!1)\"} == 0'\n"
        "        labels: {severity: P1}\n"
    )
    errors = [str(e) for e in check_rule_file(path)[1]]
    assert len(errors) == 1
    assert "negative lookahead (position 3) is not RE2 syntax" in errors[0]


def test_label_replace_anchors_at_the_very_end(engine: Engine) -> None:
    result = engine.instant('label_replace(up, "hit", "yes", "instance", "line")', T)
    assert isinstance(result, Vector)
    assert not [s for s in result if s.labels.get("hit")]  # "line\n" is not "line"


def test_silences_and_templates_read_re2_too() -> None:
    matcher = parse_matcher('instance=~"[[:alpha:]]+"')
    assert matcher.matches("web") and not matcher.matches("web1")
    assert str(matcher) == 'instance=~"[[:alpha:]]+"'  # shown as the user wrote it
    with pytest.raises(MatcherError, match="lookahead"):
        parse_matcher('instance=~"a(?=b)"')
    assert re_replace_all(r"[[:digit:]]+", "N", "web-12:9090") == "web-N:N"
    # \Q…\E and octal escapes are RE2 (the PromQL parser refuses them; these do not).
    assert parse_matcher(r'instance=~"\\Qa.b\\E"').matches("a.b")
    assert not parse_matcher(r'instance=~"\\Qa.b\\E"').matches("axb")
    assert re_replace_all(r"\101", "a", "AbA") == "aba"


def test_dot_crosses_a_newline_in_selectors_but_not_in_alertmanager_matchers(engine: Engine) -> None:
    """Prometheus compiles selector regexes with (?s), Alertmanager its matchers without."""
    assert selected(engine, "line.") == {"line\n"}
    assert not parse_matcher('instance=~"line."').matches("line\n")
    assert parse_matcher('instance=~"(?s)line."').matches("line\n")


def test_a_query_mixing_forms_the_parser_lacks_keeps_every_other_part() -> None:
    """The stand-ins the parser sees are put back in order: each matcher gets its own
    regex, and a string that looks like one is left alone."""
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="up", instance="a.b", job="=~x"), T, 1)
    st.append(Labels.of(__name__="up", instance="axb", job="=~x"), T, 2)
    query = 'up{instance=~"\\\\Qa.b\\\\E", job="=~x"} + on(instance) up{instance!~"\\\\101"}'
    result = Engine(st).instant(query, T)
    assert isinstance(result, Vector)
    assert [(s.labels.get("instance"), s.value) for s in result] == [("a.b", 2.0)]
