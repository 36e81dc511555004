"""Recurring maintenance windows: a cron-like start schedule in a time zone, a duration.

``schedule: "0 2 * * SUN"`` with ``duration: 2h`` and ``timezone: Asia/Kolkata`` mutes
matching alerts every Sunday 02:00–04:00 IST. Whether a window is open is computed
from ``now`` alone (no state), so a restart in the middle of a window changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from triaged.alerts.silence import Mute, matches_all
from triaged.model import Matcher

if TYPE_CHECKING:
    from triaged.rules.alerting import Alert

_DOW = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MON = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_SEARCH_DAYS = 400


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class CronSchedule:
    """Five cron fields: minute hour day-of-month month day-of-week (0 or 7 = Sunday).
    As in cron, when both day fields are restricted a day matching either one counts;
    a field that starts with ``*`` (``*/2``) restricts nothing in that sense."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        fields = text.split()
        if len(fields) != 5:
            raise ScheduleError(
                f"schedule {text!r} needs 5 fields: minute hour day-of-month month day-of-week"
            )
        minute, hour, dom, month, dow = fields
        weekdays = frozenset(d % 7 for d in _field(dow, 0, 7, _DOW))
        days, months = frozenset(_field(dom, 1, 31)), frozenset(_field(month, 1, 12, _MON))
        if dow.startswith("*") and not dom.startswith("*") and not _real_date(days, months):
            named = ", ".join(map(str, sorted(days)))
            raise ScheduleError(f"schedule {text!r} never opens: no month it names has day {named}")
        return cls(
            text=text,
            minutes=tuple(sorted(_field(minute, 0, 59))),
            hours=tuple(sorted(_field(hour, 0, 23))),
            days=days,
            months=months,
            weekdays=weekdays,
            # As cron reads it: a field starting with `*` (`*/2` too) does not restrict
            # the day, so `*/2 * SUN` is an odd-numbered Sunday, not every odd day and
            # every Sunday.
            any_day=dom.startswith("*"),
            any_weekday=dow.startswith("*"),
        )

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom_ok = d.day in self.days
        dow_ok = (d.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def starts_on(self, d: date, tz: ZoneInfo) -> list[float]:
        if not self.day_matches(d):
            return []
        return [
            datetime(d.year, d.month, d.day, h, m, tzinfo=tz).timestamp()
            for h in self.hours
            for m in self.minutes
        ]


# The most days each month can have (February in a leap year).
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _real_date(days: frozenset[int], months: frozenset[int]) -> bool:
    return any(day <= _MONTH_DAYS[month] for month in months for day in days)


def _field(text: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    out: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = _number(step_text, names=None) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = end = _number(body, names)
            if step_text:
                end = high
        if not (low <= start <= high and low <= end <= high and start <= end and step > 0):
            raise ScheduleError(f"field {text!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, names: Mapping[str, int] | None) -> int:
    if names and text[:3] in names and not text.isdigit():
        return names[text[:3]]
    if not text.isdigit():
        raise ScheduleError(f"not a number: {text!r}")
    return int(text)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r} (use an IANA name like Asia/Kolkata)") from exc


@dataclass(frozen=True)
class MaintenanceWindow:
    name: str
    schedule: CronSchedule
    duration_s: float
    timezone: str
    matchers: tuple[Matcher, ...]
    reason: str = ""

    def active(self, now: float) -> tuple[float, float] | None:
        """The (start, end) of the window open at ``now``, if any."""
        tz = zone(self.timezone)
        today = datetime.fromtimestamp(now, tz).date()
        back = int(self.duration_s // 86400) + 2
        best: float | None = None
        for offset in range(back):
            for start in self.schedule.starts_on(today - timedelta(days=offset), tz):
                if start <= now < start + self.duration_s and (best is None or start > best):
                    best = start
        return None if best is None else (best, best + self.duration_s)

    def next_start(self, after: float) -> float | None:
        tz = zone(self.timezone)
        day = datetime.fromtimestamp(after, tz).date()
        for offset in range(_SEARCH_DAYS):
            later = [s for s in self.schedule.starts_on(day + timedelta(days=offset), tz) if s > after]
            if later:
                return min(later)
        return None


class MaintenanceMuter:
    """Mutes alerts matched by a window that is open at ``now`` (computed once)."""

    def __init__(self, windows: Sequence[MaintenanceWindow], now: float) -> None:
        self.open: list[tuple[MaintenanceWindow, float]] = []
        for w in windows:
            span = w.active(now)
            if span is not None:
                self.open.append((w, span[1]))

    def mute(self, alert: Alert, labels: Mapping[str, str], now: float) -> Mute | None:
        for window, end in self.open:
            if matches_all(window.matchers, labels):
                why = f"maintenance window {window.name}" + (f": {window.reason}" if window.reason else "")
                return Mute("maintenance", window.name, why, end)
        return None
