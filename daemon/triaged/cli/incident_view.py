"""Parts of `triaged incidents list` and `show`: tables and text fitted to the
terminal, who acknowledged what, earlier lifetimes and the evidence chart."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from triaged.cli.common import MAX_ID, table, when
from triaged.cli.printable import one_line


class LimitType(click.ParamType[int]):
    """``--limit``: a whole number, 1 or more (and one SQLite can hold). Not an
    IntRange, whose help would print the 64-bit bound."""

    name = "n"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif str(value).strip().lstrip("-").isdigit() and str(value).strip().isascii():
            number = int(str(value).strip())
        else:
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if number < 1:
            self.fail(f"{number} is not in the range: give 1 or more", param, ctx)
        if number > MAX_ID:
            self.fail(f"{number} is not in the range SQLite can hold (at most {MAX_ID})", param, ctx)
        return number


LIMIT = LimitType()


def echo_lifetimes(inc: Any) -> None:
    """After a reopen the line above is the current lifetime; the earlier ones, with
    their own acks and resolves, are listed under it."""
    if not inc.past_lifetimes:
        return
    from triaged.incidents.timing import human, lifetime_origin, open_for

    click.echo(f"  reopened {when(inc.reopened_at)} ({lifetime_origin(inc.lifetime)}); earlier lifetimes:")
    for n, life in enumerate(inc.past_lifetimes, 1):
        click.echo(
            f"    {n}. opened {when(life.started_at)} ({lifetime_origin(life)})"
            f"   acknowledged {when(life.acknowledged_at)}   resolved {when(life.resolved_at)}"
            f"   open {human(open_for(life))}"
        )


def echo_chart(inc: Any, evidence: list[dict[str, Any]]) -> None:
    """A small text chart of the triggering metric, from the recorded evidence."""
    from triaged.incidents.chart import HAND_REOPEN, render_text, severity_key
    from triaged.incidents.postmortem_values import markers

    primary = [s for s in evidence if s["alertname"] == inc.rule] or evidence
    if not primary:
        return
    s = primary[0]
    labels = ",".join(f"{k}={v}" for k, v in sorted(s["labels"].items()) if k != "__name__")
    name = s["labels"].get("__name__", "")
    threshold = "" if s["threshold"] is None else f"   threshold {s['op']} {s['threshold']:.4g}"
    click.echo(f"\nEvidence: {name}{{{labels}}}  ({len(s['points'])} points{threshold})")
    marks = markers(inc)
    for line in render_text(s["points"], marks, worst=severity_key(s["op"], s["threshold"])):
        click.echo(f"  {line}")
    by_hand = "  H reopened by hand" if any(m.label == HAND_REOPEN for m in marks) else ""
    click.echo(f"  D detected  F firing{by_hand}  A acknowledged  M mitigated  R resolved")


def item_dict(a: Any) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(a)
    d["status"] = a.status.value
    return d


def incident_dict(i: Any) -> dict[str, Any]:
    from triaged.incidents.model import as_json

    return as_json(i)


def distinct_labels(labels: dict[str, str]) -> str:
    """The labels that tell alerts of one rule apart."""
    skip = {"alertname", "severity", "service"}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def cut_text(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def short_num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


# -- fitting the terminal -------------------------------------------------------------
def terminal_width() -> int | None:
    """The width to fit tables and wrapped text to: ``$COLUMNS`` when set, else the
    terminal's. None when stdout is not a terminal: piped output keeps full widths
    and full times, so it stays the same from one run (and one day) to the next."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((100, 24)).columns


def middle_cut(text: str, n: int) -> str:
    """Cut ``text`` to at most ``n`` characters in the middle, where titles say least:
    the start names the service and the end says what is wrong (``… failing``). The
    cuts snap to a nearby space (or ``/``, ``.``, ``-``), so words stay whole."""
    if len(text) <= n:
        return text
    if n < 2:
        return "…"[:n]
    keep = n - 1
    last_word = len(text.rsplit(" ", 1)[-1])
    tail_len = max(keep * 2 // 5, min(keep // 2, last_word))
    head = _snap_end(text[: keep - tail_len])
    return head + "…" + _snap_start(text[len(text) - (keep - len(head)) :])


_BREAKS = "/.-"


def _snap_end(head: str) -> str:
    near = len(head) - max(2, len(head) // 3)
    space = head.rfind(" ", near)
    if space > 0:
        return head[:space]
    mark = max(head.rfind(c, near) for c in _BREAKS)
    return head[: mark + 1] if mark > 0 else head


def _snap_start(tail: str) -> str:
    near = max(2, len(tail) // 2)
    space = tail.find(" ", 0, near)
    if space >= 0:
        return tail[space + 1 :]
    marks = [i for i in (tail.find(c, 0, near) for c in _BREAKS) if i > 0]
    return tail[min(marks) :] if marks else tail


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def short_time(ts: float | None, now: float) -> str:
    """A UTC time in a table column: ``23:15:22`` today, ``Nov 26 23:15`` this year,
    else ``2025-11-26``. The column header says UTC."""
    if ts is None:
        return "-"
    try:
        t, today = time.gmtime(ts), time.gmtime(now)
    except (OverflowError, OSError, ValueError):
        return when(ts)
    if t[:3] == today[:3]:
        return f"{t.tm_hour:02}:{t.tm_min:02}:{t.tm_sec:02}"
    if t.tm_year == today.tm_year:
        return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:02} {t.tm_hour:02}:{t.tm_min:02}"
    return f"{t.tm_year:04}-{t.tm_mon:02}-{t.tm_mday:02}"


def at_time(ts: float, now: float) -> str:
    """A time in a sentence: ``23:18:15 UTC`` today, the full date otherwise."""
    same_day = time.gmtime(ts)[:3] == time.gmtime(now)[:3]
    return f"{time.strftime('%H:%M:%S', time.gmtime(ts))} UTC" if same_day else when(ts)


def ago(seconds: float) -> str:
    """``2m ago``, ``3h5m ago``, ``2d4h ago``: to the unit that matters."""
    from triaged.durations import format_duration

    if seconds < 1:
        return "just now"
    step = 3600 if seconds >= 86400 else 60 if seconds >= 60 else 1
    return f"{format_duration(round(seconds / step) * step)} ago"


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int | None,
    *,
    squeeze: int,
    drop: Sequence[int] = (),
    least: int = 30,
) -> str:
    """``table()`` fitted to ``width``: column ``squeeze`` (the title) is cut in the
    middle first; if that would leave it under ``least`` characters, the columns in
    ``drop`` go, one at a time, before it is cut further. No width: full widths."""
    cells = [[str(c) for c in row] for row in rows]
    keep = list(range(len(headers)))
    limit: int | None = None
    while width is not None:
        natural = {i: max([len(headers[i]), *(len(r[i]) for r in cells)]) for i in keep}
        others = sum(w for i, w in natural.items() if i != squeeze) + 2 * (len(keep) - 1)
        room = width - others
        if room >= natural[squeeze]:
            break
        pending = [i for i in drop if i in keep]
        if room >= least or not pending:
            limit = max(room, len(headers[squeeze]), 8)
            break
        keep.remove(pending[0])
    fitted = [
        [middle_cut(r[i], limit) if i == squeeze and limit is not None else r[i] for i in keep] for r in cells
    ]
    return table([headers[i] for i in keep], fitted)


def wrap(prefix: str, text: str, width: int | None) -> str:
    """``prefix`` + ``text``, wrapped to ``width`` and indented under the text (or by
    six spaces when the prefix leaves under 50 columns). URLs and other long words are
    not broken."""
    if width is None or len(prefix) + len(text) <= width:
        return prefix + text
    import textwrap

    indent = " " * (len(prefix) if width - len(prefix) >= 50 else 6)
    return textwrap.fill(
        text,
        width=width,
        initial_indent=prefix,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


# -- who did what ------------------------------------------------------------------------
# Timeline kinds of the moves that acknowledge (investigating or mitigating straight
# from detected acknowledges too).
_ACK_KINDS = ("acknowledged", "investigating", "mitigated")


def ack_entry(inc: Any, events: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The timeline entry of the current lifetime's acknowledgement, if any."""
    if inc.acknowledged_at is None:
        return None
    acks = [e for e in events if e["kind"] in _ACK_KINDS and e["at"] <= inc.acknowledged_at]
    exact = [e for e in acks if e["at"] == inc.acknowledged_at]
    return (exact or acks)[-1] if acks else None


def owner_text(inc: Any, acker: str | None) -> str:
    """The assignee; when nobody is assigned, whoever acknowledged it (``oncall1 (ack)``)."""
    if inc.assignee:
        return str(inc.assignee)
    return f"{acker} (ack)" if acker else "-"


def ackers(store: Any, incidents: Sequence[Any]) -> dict[int, str]:
    """Who acknowledged each unassigned, acknowledged incident."""
    from triaged.store import incidents as rows

    wanted = [inc for inc in incidents if not inc.assignee and inc.acknowledged_at is not None]
    # SQLite binds at most 32766 variables; listings are far below that (--limit aside).
    events: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), 500):
        part = [inc.id for inc in wanted[start : start + 500]]
        events.update(rows.timeline_of_kinds(store, part, _ACK_KINDS))
    found: dict[int, str] = {}
    for inc in wanted:
        entry = ack_entry(inc, events.get(inc.id, []))
        if entry is not None and entry["actor"]:
            found[inc.id] = entry["actor"]
    return found


def already_text(store: Any, inc: Any, target: str, now: float) -> str:
    """Why a repeated move changed nothing, with who made it and when:
    ``incident #1 is already acknowledged by oncall1 at 23:18:15 UTC (2m ago)``."""
    from triaged.store import incidents as rows

    events = rows.timeline(store, inc.id)
    status = str(inc.status)
    if target == "acknowledged" and status != "acknowledged":
        entry = ack_entry(inc, events)
        return f"incident #{inc.id} is already {status}" + (
            f", acknowledged {_by_at(entry, now)}" if entry else ""
        )
    entry = next((e for e in reversed(events) if e["kind"] == status), None)
    if entry is None:
        return f"incident #{inc.id} is already {status}"
    if status in ("investigating", "detected"):
        return f"incident #{inc.id} is already {status} (since {_by_at(entry, now, since=True)})"
    return f"incident #{inc.id} is already {status} {_by_at(entry, now)}"


def _by_at(entry: dict[str, Any], now: float, *, since: bool = False) -> str:
    at, back = at_time(entry["at"], now), ago(now - entry["at"])
    who = entry["actor"] or "?"
    return f"{at}, {back}, by {who}" if since else f"by {who} at {at} ({back})"


def moved_text(inc: Any) -> str:
    """What a hand move did. A reopen says how it ends (docs/lifecycle.md): the daemon
    does not resolve a hand-reopened incident on its own while no new alert fires."""
    if str(inc.status) == "detected":
        return (
            f"incident #{inc.id} reopened (detected, unacknowledged): it stays open until resolved"
            " by hand, or until alerts that fire from now on have cleared"
        )
    return f"incident #{inc.id} is now {inc.status}"


# -- incidents show ------------------------------------------------------------------------
def echo_about(inc: Any, alerts: Sequence[dict[str, Any]], width: int | None) -> None:
    """Under the title: what the alerts' descriptions say, and their runbooks."""
    lead = sorted(alerts, key=lambda a: a["alertname"] != inc.rule)  # the incident's rule first
    descriptions = _distinct(str(a["annotations"].get("description") or "").strip() for a in lead)
    for text in descriptions[:3]:
        click.echo(wrap("  ", text, width))
    if len(descriptions) > 3:
        click.echo(f"  (and {len(descriptions) - 3} more descriptions: see --json)")
    for url in _distinct(str(a["annotations"].get("runbook_url") or "").strip() for a in lead):
        click.echo(f"  runbook: {url}")


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def echo_timeline(events: Sequence[dict[str, Any]], width: int | None) -> None:
    click.echo("\nTimeline:")
    for e in events:
        click.echo(
            wrap(f"  {when(e['at'])}  {e['kind']:<20} {e['actor']:<10} ", one_line(e["message"]), width)
        )


# -- incidents list ------------------------------------------------------------------------
_TITLE, _OWNER, _RESOLVED, _TTD, _TTR = 4, 3, 6, 7, 8


def incident_table(found: Sequence[Any], acked_by: dict[int, str], width: int | None, now: float) -> str:
    """The `incidents list` table. Fitted to ``width``: the title is cut in the middle
    first, then RESOLVED, TTD, OWNER and TTR make room; times are short, in UTC. With no
    width (piped) every title and time is printed in full."""
    from triaged.incidents.timing import durations, human

    stamp = when if width is None else (lambda ts: short_time(ts, now))
    rows = [
        (
            i.id,
            i.severity.name,
            i.status,
            owner_text(i, acked_by.get(i.id)),
            i.title,
            stamp(i.detected_at),
            stamp(i.resolved_at),
            human(t.detect),
            human(t.resolve),
        )
        for i, t in ((i, durations(i)) for i in found)
    ]
    utc = "" if width is None else " UTC"
    headers = ("ID", "SEV", "STATUS", "OWNER", "TITLE", f"DETECTED{utc}", f"RESOLVED{utc}", "TTD", "TTR")
    return fit_table(headers, rows, width, squeeze=_TITLE, drop=(_RESOLVED, _TTD, _OWNER, _TTR))


def fields_line(fields: Sequence[str], width: int | None) -> str:
    """``  a   b   c``: summary fields three spaces apart, continued on the next line
    (indented) rather than past ``width``."""
    lines = [f"  {fields[0]}"]
    for f in fields[1:]:
        if width is not None and len(lines[-1]) + 3 + len(f) > width:
            lines.append(f"  {f}")
        else:
            lines[-1] += f"   {f}"
    return "\n".join(lines)
