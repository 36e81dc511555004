"""Durations as rule files, config and the CLI write them (``5m``, ``1h30m``, ``500ms``).

Kept apart from YAML loading so a CLI command that only prints a duration does not
pay for importing PyYAML.
"""

from __future__ import annotations

import re

# model.ParseDuration, as Prometheus reads every duration: whole numbers, each unit at
# most once, largest first (``1h30m``, ``500ms``); ``1.5m`` and ``5m5m`` are refused.
_DURATION_RE = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_SECONDS = (31536000.0, 604800.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)


def prometheus_duration(text: str) -> float | None:
    """Seconds of a duration as Prometheus writes one, or None if it is not one."""
    if text == "0":  # zero needs no unit
        return 0.0
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        return None
    seconds = sum(
        int(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if n is not None
    )
    # Prometheus keeps a duration in int64 nanoseconds (about 292 years) and refuses
    # longer ones ("duration out of range"); a `for: 9999y` must not load here alone.
    return seconds if seconds * 1e9 <= _MAX_DURATION_NS else None


_MAX_DURATION_NS = 2**63 - 1


# triaged's own config and CLI flags also take fractions and any order (``2.5s``,
# ``1.5h``), as they always have: an upgrade must not refuse a config that ran.
_LENIENT_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_OF = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def lenient_duration(text: str) -> float | None:
    """Seconds of ``1h30m``, ``2.5s``, ``90s``…, or None if it is not a duration."""
    if text == "0":
        return 0.0
    total, pos = 0.0, 0
    for match in _LENIENT_RE.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_OF[match.group(2)]
        pos = match.end()
    return total if text and pos == len(text) else None


def parse_duration(value: object, *, strict: bool = False) -> float:
    """A duration (``1h30m``, ``500ms``) or plain seconds, as seconds. ``strict``: only
    as Prometheus writes one (rule files and rule tests, for promtool parity)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value}")
        return float(value)
    text = str(value).strip()
    seconds = prometheus_duration(text) if strict else lenient_duration(text)
    if seconds is None:
        hint = ": whole numbers, largest unit first" if strict else ""
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h30m{hint})")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form: ``1h2m``, ``45s``, ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    s = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    if s or not parts:
        parts.append(f"{s}s")
    return "".join(parts)
