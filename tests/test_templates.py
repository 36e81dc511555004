"""Alert templates: the forms rule files use, and load-time errors for the rest."""

import pytest

from triaged.rules.templates import TemplateData, TemplateError, check_template, render

DATA = TemplateData(labels={"service": "api", "instance": "10.0.0.1:80"}, value=0.7412)


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
