"""printf in alert templates follows Go's fmt.Sprintf, including its in-band errors."""

import pytest

from triaged.rules.templates import TemplateData, render

DATA = TemplateData(labels={"v": "12", "service": "api"}, value=1234567.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('"%.2f" 3.14159', "3.14"),
        ('"%6.2f|" 3.14159', "  3.14|"),
        ('"%08.3f" 3.14159', "0003.142"),
        ('"%d" 42', "42"),
        ('"%+d" 5', "+5"),
        ('"%05d" -42', "-0042"),
        ('"%-5d|" 42', "42   |"),
        ('"%5s|%-5s|" "ab" "ab"', "   ab|ab   |"),
        ('"%.2s" "abc"', "ab"),
        ('"%x %X %o %#o %#x %b" 255 255 8 8 255 5', "ff FF 10 010 0xff 101"),
        ('"%c %U %q" 65 65 65', "A U+0041 'A'"),
        ('"%e %E" 1234.5678 1234.5678', "1.234568e+03 1.234568E+03"),
        ('"%g %g %g" 1e20 100000.0 0.00001234', "1e+20 100000 1.234e-05"),
        ('"%.3g" 1234.5', "1.23e+03"),
        ('"%v" $value', "1.234567e+06"),
        ('"%v" $labels', "map[service:api v:12]"),
        ('"%s" $labels.service', "api"),
        ('"%q" "a\\"b"', '"a\\"b"'),
        ('"%x" "hi"', "6869"),
        ('"%t %v" true false', "true false"),
        ('"100%%"', "100%"),
        ('"%v %v" 1 "a"', "1 a"),
        ('"%5.1f%%" 99.25', " 99.2%"),
    ],
)
def test_printf_verbs(args: str, expected: str) -> None:
    assert render(f"{{{{ printf {args} }}}}", DATA) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # A label is a string: Go prints the mismatch instead of failing the template.
        ('"%.0f" $labels.v', "%!f(string=12)"),
        ('"%d" 1.5', "%!d(float64=1.5)"),
        ('"%s" 1.5', "%!s(float64=1.5)"),
        ('"%d"', "%!d(MISSING)"),
        ('"%d" 1 2', "1%!(EXTRA int=2)"),
        ('"%d" nil', "%!d(<nil>)"),
        ('"%z" 1', "%!z(int=1)"),
        ('"50%"', "50%!(NOVERB)"),
    ],
)
def test_printf_errors_are_in_band_like_go(args: str, expected: str) -> None:
    assert render(f"{{{{ printf {args} }}}}", DATA) == expected


def test_printf_receives_the_piped_value_last() -> None:
    assert render('{{ $value | printf "%.1f" }}', DATA) == "1234567.0"
    assert render('{{ 1 | printf "%v %v" 2 }}', DATA) == "2 1"


def test_printf_inf_and_nan() -> None:
    data = TemplateData(labels={}, value=float("inf"))
    assert render('{{ printf "%.2f|%v|%5.1f" $value $value $value }}', data) == "+Inf|+Inf| +Inf"
    nan = TemplateData(labels={}, value=float("nan"))
    assert render('{{ printf "%.2f %v %g" $value $value $value }}', nan) == "NaN NaN NaN"
