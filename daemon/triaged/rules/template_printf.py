"""Go's ``fmt`` printing for templates: ``printf`` (Sprintf), ``print``/``println``
(Sprint, Sprintln) and strconv.Quote.

Written to behave as Go 1.19's ``fmt`` (what Prometheus 2.42 is built with) behaves
for the values a template can hold, checked against promtool's expansions, so a rule
file renders the same text here as in Prometheus: flags, width and precision apply to
every element of a map or struct, ``*`` takes them from the arguments, ``%[n]`` picks an
argument, and mistakes are printed in-band (``%!d(string=x)``, ``%!d(MISSING)``,
``%!(BADWIDTH)``, ``%!(EXTRA …)``) rather than failing the template.

One deliberate difference: Go prints a query result's samples as memory addresses
(``[0xc000123450 …]``); here they print as ``&{map[…] 1}``, which is at least readable.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from dataclasses import dataclass, replace

from triaged.rules.template_values import GoTime, Record, go_float, go_type, go_value

_MAX_RUNE = 0x10FFFF
_TOO_LARGE = 1_000_000  # fmt's tooLarge: a width or precision beyond ±1e6 is refused


@dataclass
class _Fmt:
    """fmt's flags, width and precision for one directive (``None``: not given)."""

    wid: int | None = None
    prec: int | None = None
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False  # %+v: struct field names
    sharp_v: bool = False  # %#v: Go syntax


_PLAIN = _Fmt()


def sprintf(fmt: str, args: list[object]) -> str:
    """Go's fmt.Sprintf (``doPrintf``), with its in-band errors."""
    out: list[str] = []
    arg_num, reordered, end, i = 0, False, len(fmt), 0
    while i < end:
        good_arg_num = True
        start = fmt.find("%", i)
        if start < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:start])
        i = start + 1
        f = _Fmt()
        while i < end and fmt[i] in "#0+- ":
            match fmt[i]:
                case "#":
                    f.sharp = True
                case "0":
                    f.zero = not f.minus  # only pad with zeros on the left
                case "+":
                    f.plus = True
                case "-":
                    f.minus, f.zero = True, False
                case " ":
                    f.space = True
            i += 1
        # An explicit argument index, e.g. %[2]d.
        arg_num, i, after_index, ok, seen = _arg_number(arg_num, fmt, i, len(args))
        reordered, good_arg_num = reordered or seen, good_arg_num and ok
        if i < end and fmt[i] == "*":
            i += 1
            f.wid, arg_num = _int_from_arg(args, arg_num)
            if f.wid is None:
                out.append("%!(BADWIDTH)")
            elif f.wid < 0:
                f.wid, f.minus, f.zero = -f.wid, True, False
            after_index = False
        else:
            f.wid, i = _parse_num(fmt, i)
            if after_index and f.wid is not None:  # "%[3]2d"
                good_arg_num = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:  # "%[3].2d"
                good_arg_num = False
            arg_num, i, after_index, ok, seen = _arg_number(arg_num, fmt, i, len(args))
            reordered, good_arg_num = reordered or seen, good_arg_num and ok
            if i < end and fmt[i] == "*":
                i += 1
                f.prec, arg_num = _int_from_arg(args, arg_num)
                if f.prec is not None and f.prec < 0:  # a negative precision means none
                    f.prec = None
                if f.prec is None:
                    out.append("%!(BADPREC)")
                after_index = False
            else:
                f.prec, i = _parse_num(fmt, i)
                if f.prec is None:
                    f.prec = 0  # "%.f": precision 0
        if not after_index:
            arg_num, i, after_index, ok, seen = _arg_number(arg_num, fmt, i, len(args))
            reordered, good_arg_num = reordered or seen, good_arg_num and ok
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":  # takes no argument and ignores width and precision
            out.append("%")
        elif not good_arg_num:
            out.append(f"%!{verb}(BADINDEX)")
        elif arg_num >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                f.sharp_v, f.sharp, f.plus_v, f.plus = f.sharp, False, f.plus, False
            out.append(print_arg(args[arg_num], verb, f))
            arg_num += 1
    if not reordered and arg_num < len(args):
        extra = (
            "<nil>" if a is None else f"{go_type(a)}={print_arg(a, 'v', _PLAIN)}" for a in args[arg_num:]
        )
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


def _parse_num(fmt: str, i: int) -> tuple[int | None, int]:
    """fmt's parsenum: the decimal number at ``i`` (None if there is none), and where
    it ends. An absurdly long number swallows the rest of the format, as in Go."""
    num, j = 0, i
    while j < len(fmt) and "0" <= fmt[j] <= "9":
        if abs(num) > _TOO_LARGE:
            return None, len(fmt)
        num = num * 10 + int(fmt[j])
        j += 1
    return (num if j > i else None), j


def _arg_number(arg_num: int, fmt: str, i: int, count: int) -> tuple[int, int, bool, bool, bool]:
    """fmt's argNumber for ``[n]`` at ``i``: (argument, next i, found, index ok, seen)."""
    if i >= len(fmt) or fmt[i] != "[":
        return arg_num, i, False, True, False
    close = fmt.find("]", i + 1)
    if close < 0:  # no closing bracket: the "[" is skipped, and the index is bad
        return arg_num, i + 1, False, False, True
    index, j = _parse_num(fmt, i + 1)
    if index is not None and j == close and 0 <= index - 1 < count:
        return index - 1, close + 1, True, True, True
    return arg_num, close + 1, index is not None and j == close, False, True


def _int_from_arg(args: list[object], arg_num: int) -> tuple[int | None, int]:
    """A ``*`` width or precision: the next argument if it is an int, else None (and
    the argument is used up all the same, unless there is none)."""
    if arg_num >= len(args):
        return None, arg_num
    arg = args[arg_num]
    if not isinstance(arg, int) or isinstance(arg, bool) or abs(arg) > _TOO_LARGE:
        return None, arg_num + 1
    return arg, arg_num + 1


# -- printArg / printValue --------------------------------------------------------------


def print_arg(arg: object, verb: str, f: _Fmt) -> str:
    """fmt's printArg: one argument formatted by one verb."""
    if arg is None:
        return _pad("<nil>", f) if verb in "Tv" else _bad_verb(arg, verb, f)
    if verb == "T":
        return _fmt_s(go_type(arg), f)
    if verb == "p":
        # Only maps, slices and pointers have an address; Go prints it in hex.
        return _bad_verb(arg, verb, f)
    if isinstance(arg, GoTime) and verb in "vsxXq":
        return _fmt_string(str(arg), verb, f)  # *time.Time is a fmt.Stringer
    return _print_value(arg, verb, f, 0)


def _print_value(value: object, verb: str, f: _Fmt, depth: int) -> str:
    match value:
        case None:  # a nil interface {} inside a map
            return "interface {}(nil)" if f.sharp_v else "<nil>"
        case bool():
            return _pad(go_value(value), f) if verb in "tv" else _bad_verb(value, verb, f)
        case int():
            return _fmt_int(value, verb, f)
        case float():
            return _fmt_float_verb(value, verb, f)
        case str():
            return _fmt_string(value, verb, f)
        case dict():
            items = sorted(value.items())
            if f.sharp_v:
                inner = ", ".join(
                    f"{_print_value(k, verb, f, depth + 1)}:{_print_value(v, verb, f, depth + 1)}"
                    for k, v in items
                )
                return f"{go_type(value)}{{{inner}}}"
            inner = " ".join(
                f"{_print_value(k, verb, f, depth + 1)}:{_print_value(v, verb, f, depth + 1)}"
                for k, v in items
            )
            return f"map[{inner}]"
        case list():
            if f.sharp_v:
                return f"{go_type(value)}{{{', '.join(go_value(v) for v in value)}}}"
            return "[" + " ".join(go_value(v) for v in value) + "]"
        case Record():
            named = f.plus_v or f.sharp_v
            fields = (
                ("" if not named else f"{name}:") + _print_value(v, verb, f, depth + 1)
                for name, v in value.fields.items()
            )
            body = "{" + (", " if f.sharp_v else " ").join(fields) + "}"
            if f.sharp_v:
                body = value.type_name.lstrip("*") + body
            return ("&" if value.pointer and depth == 0 else "") + body
        case GoTime():
            return _fmt_string(str(value), verb, f) if verb in "vsxXq" else _bad_verb(value, verb, f)
    return _bad_verb(value, verb, f)


def _bad_verb(arg: object, verb: str, f: _Fmt) -> str:
    """``%!verb(type=value)``: the value printed with %v, keeping the flags and width.

    Go keeps the precision too (``%.0f`` of the label "12" is ``%!f(string=)``); here
    the value stays whole, so the mistake shows what the label held."""
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={print_arg(arg, 'v', replace(f, prec=None))})"


# -- integers ---------------------------------------------------------------------------


def _fmt_int(n: int, verb: str, f: _Fmt) -> str:
    match verb:
        case "v" | "d":
            return _fmt_integer(n, 10, verb, f)
        case "b":
            return _fmt_integer(n, 2, verb, f)
        case "o" | "O":
            return _fmt_integer(n, 8, verb, f)
        case "x" | "X":
            return _fmt_integer(n, 16, verb, f)
        case "c":
            return _pad(_rune(n), f)
        case "q":
            return _pad(_quote_rune(_rune(n), ascii_only=f.plus), f)
        case "U":
            return _fmt_unicode(n, f)
    return _bad_verb(n, verb, f)


def _rune(n: int) -> str:
    """rune(n), with utf8's replacement for what is not a valid code point."""
    u = n & (2**64 - 1)
    return "\ufffd" if u > _MAX_RUNE or 0xD800 <= u <= 0xDFFF else chr(u)


def _fmt_integer(n: int, base: int, verb: str, f: _Fmt) -> str:
    negative = n < 0
    prec = 0
    if f.prec is not None:
        prec = f.prec
        if prec == 0 and n == 0:  # "%.0d" of 0 prints nothing but the padding
            return " " * (f.wid or 0)
    elif f.zero and f.wid is not None:
        prec = f.wid - (1 if negative or f.plus or f.space else 0)
    digits = format(abs(n), {2: "b", 8: "o", 10: "d", 16: "x"}[base])
    if verb == "X":
        digits = digits.upper()
    digits = digits.rjust(prec, "0")
    if f.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if verb == "X" else "0x") + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if negative else "+" if f.plus else " " if f.space else ""
    return _pad(sign + digits, replace(f, zero=False))  # zeros were added as precision


def _fmt_unicode(n: int, f: _Fmt) -> str:
    u = n & (2**64 - 1)
    prec = f.prec if f.prec is not None and f.prec > 4 else 4
    text = "U+" + format(u, "X").rjust(prec, "0")
    if f.sharp and u <= _MAX_RUNE and _is_print(chr(u)):
        text += f" '{chr(u)}'"
    return _pad(text, replace(f, zero=False))


# -- floats -----------------------------------------------------------------------------


def _fmt_float_verb(v: float, verb: str, f: _Fmt) -> str:
    match verb:
        case "v":
            return _fmt_float(v, "g", -1, f)
        case "b" | "g" | "G" | "x" | "X":
            return _fmt_float(v, verb, -1, f)
        case "f" | "e" | "E":
            return _fmt_float(v, verb, 6, f)
        case "F":
            return _fmt_float(v, "f", 6, f)
    return _bad_verb(v, verb, f)


def _fmt_float(v: float, verb: str, prec: int, f: _Fmt) -> str:
    if f.prec is not None:
        prec = f.prec
    num = format_float(v, verb, prec)
    num = num if num[0] in "+-" else "+" + num
    if f.space and num[0] == "+" and not f.plus:
        num = " " + num[1:]
    if num[1] in "IN":  # infinities and NaN are never zero-padded
        if num[1] == "N" and not f.space and not f.plus:
            num = num[1:]
        return _pad(num, replace(f, zero=False))
    if f.sharp and verb != "b":
        num = _sharp_float(num, verb, prec)
    if f.plus or num[0] != "+":
        if f.zero and f.wid is not None and f.wid > len(num):
            # The sign goes before the leading zeros.
            return num[0] + "0" * (f.wid - len(num)) + num[1:]
        return _pad(num, f)
    return _pad(num[1:], f)


def _sharp_float(num: str, verb: str, prec: int) -> str:
    """``#``: always a decimal point, and %g keeps its trailing zeros."""
    digits = (6 if prec == -1 else prec) if verb in "vgGx" else 0
    tail = ""
    has_point = nonzero = False
    body = num[:1]
    for i in range(1, len(num)):
        ch = num[i]
        if ch == ".":
            has_point = True
        elif ch in "pP" or (ch in "eE" and verb not in "xX"):
            tail = num[i:]
            break
        else:
            nonzero = nonzero or ch != "0"
            digits -= nonzero  # significant digits count from the first non-zero one
        body += ch
    if not has_point:
        if body[1:] == "0":
            digits -= 1  # a lone 0 counts once, so %#.3g of 0 is 0.00
        body += "."
    return body + "0" * max(digits, 0) + tail


def format_float(v: float, verb: str, prec: int) -> str:
    """strconv.FormatFloat(v, verb, prec, 64); ``prec`` -1 is the shortest exact form."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    match verb:
        case "b":
            return _format_b(v)
        case "x" | "X":
            return _format_x(v, verb, prec)
        case "g" | "G" if prec == -1:
            text = go_float(v)
            return text.upper() if verb == "G" else text
    # %e, %f and %g with a precision round as Go does: Python's format matches.
    return f"{v:.{prec}{verb}}"


def _float_bits(v: float) -> tuple[bool, int, int]:
    """The sign, the mantissa with its implicit bit, and the unbiased exponent, as
    strconv's genericFtoa takes them apart."""
    bits = struct.unpack("<Q", struct.pack("<d", v))[0]
    neg = bits >> 63 == 1
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1  # denormal
    else:
        mant |= 1 << 52
    return neg, mant, exp - 1023


def _format_b(v: float) -> str:
    """%b: decimal mantissa and binary exponent, e.g. 4503599627370496p-52."""
    neg, mant, exp = _float_bits(v)
    exp -= 52
    return f"{'-' if neg else ''}{mant}p{'+' if exp >= 0 else '-'}{abs(exp)}"


def _format_x(v: float, verb: str, prec: int) -> str:
    """%x: hexadecimal mantissa and binary exponent, e.g. 0x1.9p+06 (strconv's fmtX)."""
    neg, mant, exp = _float_bits(v)
    if mant == 0:
        exp = 0
    mant <<= 60 - 52  # the leading 1, if any, at bit 60
    while mant and not mant & (1 << 60):
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    hexdigits = "0123456789ABCDEF" if verb == "X" else "0123456789abcdef"
    out = ["-" if neg else "", "0", verb, str((mant >> 60) & 1)]
    mant = (mant << 4) & ((1 << 64) - 1)
    if (prec < 0 and mant) or prec > 0:
        out.append(".")
        count = prec if prec > 0 else 16
        for _ in range(count):
            if prec < 0 and not mant:
                break
            out.append(hexdigits[(mant >> 60) & 15])
            mant = (mant << 4) & ((1 << 64) - 1)
    out.append("P" if verb == "X" else "p")
    out.append(f"{'-' if exp < 0 else '+'}{abs(exp):02d}")
    return "".join(out)


# -- strings ----------------------------------------------------------------------------


def _fmt_string(s: str, verb: str, f: _Fmt) -> str:
    match verb:
        case "v":
            return _fmt_q(s, f) if f.sharp_v else _fmt_s(s, f)
        case "s":
            return _fmt_s(s, f)
        case "x" | "X":
            return _fmt_sx(s, verb, f)
        case "q":
            return _fmt_q(s, f)
    return _bad_verb(s, verb, f)


def _fmt_s(s: str, f: _Fmt) -> str:
    return _pad(s if f.prec is None else s[: f.prec], f)


def _fmt_sx(s: str, verb: str, f: _Fmt) -> str:
    data = s.encode()
    if f.prec is not None:
        data = data[: f.prec]
    if not data:
        return _pad("", f)
    hexed = [format(b, "02X" if verb == "X" else "02x") for b in data]
    prefix = "0X" if verb == "X" else "0x"
    if f.space:
        text = " ".join((prefix if f.sharp else "") + h for h in hexed)
    else:
        text = (prefix if f.sharp else "") + "".join(hexed)
    return _pad(text, f)


def _fmt_q(s: str, f: _Fmt) -> str:
    if f.prec is not None:
        s = s[: f.prec]
    if f.sharp and _can_backquote(s):
        return _pad(f"`{s}`", f)
    return _pad(go_quote(s, ascii_only=f.plus), f)


def _can_backquote(s: str) -> bool:
    return all(ch == "\t" or (ch >= " " and ch not in "`\x7f\ufeff") for ch in s)


def _is_print(ch: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _escape(ch: str, quote: str, ascii_only: bool) -> str:
    if ch in (quote, "\\"):
        return "\\" + ch
    if (ch.isascii() or not ascii_only) and _is_print(ch):
        return ch
    if ch in "\a\b\f\n\r\t\v":
        return "\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)]
    if ch < " " or ch == "\x7f":
        return f"\\x{ord(ch):02x}"
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def go_quote(text: str, ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteToASCII): Go's escapes for what is not printable."""
    return '"' + "".join(_escape(ch, '"', ascii_only) for ch in text) + '"'


def _quote_rune(ch: str, ascii_only: bool) -> str:
    """strconv.QuoteRune (or QuoteRuneToASCII)."""
    return "'" + _escape(ch, "'", ascii_only) + "'"


# -- padding ----------------------------------------------------------------------------


def _pad(text: str, f: _Fmt) -> str:
    """fmt's pad: to the width in runes, with zeros if ``0`` was given, left unless ``-``."""
    if not f.wid or len(text) >= f.wid:
        return text
    fill = ("0" if f.zero else " ") * (f.wid - len(text))
    return text + fill if f.minus else fill + text


# -- print, println ---------------------------------------------------------------------


def sprint(args: list[object], line: bool = False) -> str:
    """fmt.Sprint (spaces only between two non-strings) or fmt.Sprintln."""
    if line:
        return " ".join(print_arg(a, "v", _PLAIN) for a in args) + "\n"
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(print_arg(a, "v", _PLAIN))
    return "".join(out)


__all__ = ["format_float", "go_quote", "print_arg", "sprint", "sprintf"]
