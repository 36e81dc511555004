"""Go's ``fmt`` printing for templates: ``printf`` (Sprintf), ``print``/``println``
(Sprint, Sprintln) and strconv.Quote.

Output matches Go's, in-band errors included (``%!d(string=x)``, ``%!d(MISSING)``,
``%!(EXTRA …)``), so a rule file renders the same text here as in Prometheus.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from triaged.rules.template_lex import TemplateError
from triaged.rules.template_values import go_float, go_type, go_value, special_float

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.?)", re.DOTALL)


@dataclass
class _Spec:
    flags: str
    width: int | None
    prec: int | None
    verb: str


def sprintf(fmt: str, args: list[object]) -> str:
    """Go's fmt.Sprintf, including its in-band errors: ``%!d(string=x)``, ``%!d(MISSING)``,
    ``%!(EXTRA …)``. Explicit argument indexes (``%[1]d``) are not supported."""
    out: list[str] = []
    rest = list(args)
    pos = 0
    while (start := fmt.find("%", pos)) >= 0:
        out.append(fmt[pos:start])
        m = _DIRECTIVE.match(fmt, start)
        assert m is not None  # every part of the pattern is optional
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if not verb:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        spec = _Spec(flags, _star(width, rest), _star(prec, rest) if prec != "" else 0, verb)
        if spec.width is not None and spec.width < 0:
            spec.flags, spec.width = spec.flags + "-", -spec.width
        out.append(format_arg(rest.pop(0), spec) if rest else f"%!{verb}(MISSING)")
    out.append(fmt[pos:])
    if rest:
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={go_value(a)}" for a in rest) + ")")
    return "".join(out)


def _star(text: str | None, rest: list[object]) -> int | None:
    if text != "*":
        return int(text) if text else None
    arg = rest.pop(0) if rest else None
    if not isinstance(arg, int) or isinstance(arg, bool):
        raise TemplateError("%!(BADWIDTH)")
    return arg


def format_arg(arg: object, spec: _Spec) -> str:
    text = _format_verb(arg, spec)
    if text is None:
        return f"%!{spec.verb}(<nil>)" if arg is None else f"%!{spec.verb}({go_type(arg)}={go_value(arg)})"
    return _pad(text, spec, zero=not (isinstance(arg, float) and not math.isfinite(arg)))


def _format_verb(arg: object, spec: _Spec) -> str | None:
    verb, flags = spec.verb, spec.flags
    if isinstance(arg, bool):
        return go_value(arg) if verb in "tv" else None
    if isinstance(arg, int):
        return _format_int(arg, spec)
    if isinstance(arg, float):
        return _format_float(arg, spec)
    if isinstance(arg, str):
        if verb in "sv":
            return arg if spec.prec is None else arg[: spec.prec]
        if verb == "q":
            return go_quote(arg)
        if verb in "xX":
            hexed = arg.encode().hex()
            return ("0x" if "#" in flags else "") + (hexed.upper() if verb == "X" else hexed)
        return None
    if verb in "sv" and arg is not None:
        return go_value(arg)
    return "<nil>" if verb == "v" else None


def _format_int(n: int, spec: _Spec) -> str | None:
    verb = spec.verb
    if verb in "dxX" or verb == "v":
        prec = "" if spec.prec is None else f".{spec.prec}"
        return f"%{spec.flags.replace('0', '')}{prec}{'d' if verb == 'v' else verb}" % n
    sign = "-" if n < 0 else "+" if "+" in spec.flags else ""
    match verb:
        case "o" | "O" | "b":
            digits = format(abs(n), "b" if verb == "b" else "o")
            prefix = "0o" if verb == "O" else "0" if "#" in spec.flags and verb == "o" else ""
            return sign + prefix + digits
        case "c":
            return chr(n)
        case "q":
            quoted = "\\'" if n == ord("'") else go_quote(chr(n))[1:-1].replace('\\"', '"')
            return f"'{quoted}'"
        case "U":
            return f"U+{n:04X}"
    return None


def _format_float(v: float, spec: _Spec) -> str | None:
    verb = spec.verb
    if verb not in "vgGeEfF":
        return None
    sign = "" if v < 0 else "+" if "+" in spec.flags else " " if " " in spec.flags else ""
    if math.isnan(v):
        return sign + "NaN"
    if math.isinf(v):
        return " Inf" if sign == " " else special_float(v)
    if verb in "vgG" and spec.prec is None:
        return sign + go_float(v, upper=verb == "G")
    prec = 6 if spec.prec is None else spec.prec
    flags = spec.flags.replace("0", "").replace("-", "")
    return f"%{flags}.{prec}{verb.lower() if verb == 'F' else verb}" % v


def _pad(text: str, spec: _Spec, zero: bool) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if "-" in spec.flags:
        return text.ljust(width)
    if "0" in spec.flags and zero:
        # Go puts zero padding after the sign, as Python's "%+05d" does.
        sign = text[0] if text[:1] in ("+", "-", " ") and len(text) > 1 else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def go_quote(text: str) -> str:
    """strconv.Quote: Go's escapes for control characters, printable text kept."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def sprint(args: list[object], line: bool = False) -> str:
    """fmt.Sprint (spaces only between two non-strings) or fmt.Sprintln."""
    if line:
        return " ".join(go_value(a) for a in args) + "\n"
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_value(a))
    return "".join(out)
