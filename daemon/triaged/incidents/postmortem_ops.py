"""Writing, checking and completing postmortem files; the incident moves with them
(resolved → postmortem when drafted, → closed when complete)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triaged.alerts.route import Router
from triaged.incidents.blameless import Finding, scan
from triaged.incidents.human import HumanActions
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_blocks import carry_over, nothing_written
from triaged.incidents.postmortem_due import PostmortemPolicy, required
from triaged.incidents.postmortem_values import render_chart
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.store import postmortems as pm_rows
from triaged.store.db import Store


class PostmortemError(Exception):
    pass


@dataclass(frozen=True)
class Written:
    markdown: Path
    chart: Path | None
    flagged: int  # blameful phrases found in what people wrote on the timeline
    kept: tuple[str, ...] = ()  # edited parts of the previous draft carried into this one


def md_path(out_dir: Path, incident_id: int) -> Path:
    return out_dir / f"incident-{incident_id}-postmortem.md"


def write_draft(
    store: Store,
    incident_id: int,
    out_dir: Path,
    *,
    actor: str,
    now: float,
    policy: PostmortemPolicy,
    force: bool = False,
) -> Written:
    facts = gather(store, incident_id, now)
    inc = facts.incident
    if inc.is_open:
        raise PostmortemError(f"incident #{inc.id} is still {inc.status}: resolve it first")
    # Absolute, so the path recorded and shown means the same from any working directory.
    out_dir = out_dir.resolve()
    md = md_path(out_dir, inc.id)
    if not force:
        _refuse_redraft(pm_rows.get(store, inc.id), md, store.path)
    svg = render_chart(facts)
    chart = out_dir / f"incident-{inc.id}-chart.svg" if svg is not None else None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if chart is not None and svg is not None:
            _write_whole(chart, svg)
        text, kept = _keep_edits(md, render(facts, policy, chart.name if chart else None))
        _write_whole(md, text)
    except OSError as exc:
        if out_dir.exists() and not out_dir.is_dir():
            raise PostmortemError(f"cannot write the draft: {out_dir} is a file, not a folder") from exc
        raise PostmortemError(f"cannot write the draft: {exc.filename or out_dir}: {exc.strerror}") from exc
    with store.atomic():
        pm_rows.record_draft(
            store,
            inc.id,
            path=str(md),
            chart_path=str(chart) if chart else None,
            by=actor,
            now=now,
            findings=len(facts.findings),
        )
        if inc.status is IncidentStatus.RESOLVED:
            HumanActions(store, Router([])).move(
                inc.id, IncidentStatus.POSTMORTEM, actor, f"draft {md.name}", now
            )
        else:
            rows.add_timeline(
                store, inc.id, now, "postmortem_drafted", f"postmortem drafted: {md}", actor=actor
            )
    return Written(md, chart, len(facts.findings), tuple(kept))


def _keep_edits(md: Path, fresh: str) -> tuple[str, list[str]]:
    """A re-draft over an existing draft keeps what people wrote in it (the summary,
    root cause and lessons blocks); the rest is drafted afresh from the record."""
    try:
        old = md.read_text(encoding="utf-8")
    except FileNotFoundError:
        return fresh, []
    except (OSError, UnicodeDecodeError):  # unreadable: the .bak the CLI made has it
        return fresh, []
    return carry_over(old, fresh)


def recorded_dir(store: Store, incident_id: int) -> Path | None:
    """The folder of the incident's recorded draft, if it has one."""
    record = pm_rows.get(store, incident_id)
    return None if record is None else Path(record["path"]).parent


def _refuse_redraft(record: dict[str, Any] | None, md: Path, store_path: str) -> None:
    """A draft may hold hours of edits: never replace it, nor point the record away from
    it (a draft at another path would be orphaned), without --force."""
    if record is not None and record["completed_at"] is not None:
        raise PostmortemError(f"the postmortem is complete ({record['path']}): use --force to draft it again")
    if record is not None and Path(record["path"]) != md:
        raise PostmortemError(
            f"a draft is already recorded at {record['path']} (it may hold edits): edit that one,"
            " or use --force to draft anew here"
        )
    if md.exists() and record is None:
        # Not drafted from this store: another store's incident of the same number
        # (the demo's and the daemon's stores share the default ./postmortems).
        raise PostmortemError(
            f"{md} exists, but {store_path} has no draft of this incident: it was drafted"
            " from another store (the demo's incident of the same number, or before this"
            " store was restored from a backup). Draft this one elsewhere with --out DIR,"
            " or replace that file with --force"
        )
    if md.exists():
        raise PostmortemError(f"{md} exists (and may hold edits): use --force to draft it again")


def _write_whole(path: Path, text: str) -> None:
    """Write beside, then rename over: a failed write (a full disk) leaves the old
    file, which may hold edits, as it was."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):  # the first error is the one worth reporting
            tmp.unlink(missing_ok=True)
        raise


def people_of(store: Store, incident_id: int) -> set[str]:
    inc = rows.get_incident(store, incident_id)
    names = {e["actor"] for e in rows.timeline(store, incident_id)}
    names |= {a.owner for a in action_rows.list_items(store, incident_id=incident_id)}
    if inc is not None and inc.assignee:
        names.add(inc.assignee)
    names.discard("triaged")
    return names


def check(store: Store, incident_id: int, path: Path | None = None) -> tuple[Path, list[Finding]]:
    path, text = _read_draft(store, incident_id, path)
    return path, scan(text, people_of(store, incident_id))


def _read_draft(store: Store, incident_id: int, path: Path | None) -> tuple[Path, str]:
    """The draft's path (``path``, else the recorded one) and its text."""
    if path is None:
        record = pm_rows.get(store, incident_id)
        if record is None:
            raise PostmortemError(
                f"incident #{incident_id} has no postmortem draft: run `triaged postmortem draft`"
            )
        path = Path(record["path"])
    try:
        return path, path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PostmortemError(f"{path}: {exc.strerror}") from exc


def complete(
    store: Store, incident_id: int, *, actor: str, now: float, force: bool = False
) -> tuple[bool, Path, list[Finding]]:
    """Mark the postmortem done and close the incident. Refuses (returns False) while
    the text still has blameful phrasing, unless ``force``; returns the findings.
    Raises :class:`PostmortemError` when nobody has written any part of the draft,
    unless ``force``: a draft completed as generated teaches no one anything."""
    path, text = _read_draft(store, incident_id, None)  # read once: both checks see one text
    findings = scan(text, people_of(store, incident_id))
    if findings and not force:
        return False, path, findings
    if not force and nothing_written(text):
        raise PostmortemError(
            f"{path}: nothing written yet (summary, root cause and lessons are the drafted"
            " prompts): write them, or use --force to complete it as drafted"
        )
    inc = rows.get_incident(store, incident_id)
    assert inc is not None
    with store.atomic():
        pm_rows.record_completed(store, incident_id, by=actor, now=now, findings=len(findings))
        if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM):
            HumanActions(store, Router([])).move(
                inc.id, IncidentStatus.CLOSED, actor, "postmortem complete", now
            )
    return True, path, findings


def close(
    store: Store,
    incident_id: int,
    *,
    actor: str,
    reason: str,
    now: float,
    policy: PostmortemPolicy,
    no_postmortem: bool = False,
) -> Incident:
    """Close an incident by hand. One whose severity asks for a postmortem is closed by
    completing it; closing it without one takes ``no_postmortem`` and a reason, kept
    as a waiver (on the timeline too) so the reminders about it stop. Raises
    :class:`PostmortemError` and whatever :meth:`HumanActions.move` raises."""
    with store.atomic():
        inc = rows.get_incident(store, incident_id)
        if inc is None:
            raise LookupError(f"no incident #{incident_id}")
        record = pm_rows.get(store, incident_id)
        owed = (
            inc.status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)
            and required(inc, policy)
            and (record is None or record["completed_at"] is None)
        )
        if owed and not no_postmortem:
            raise PostmortemError(
                f"incident #{inc.id} is {inc.severity.name} and owes a postmortem: complete it"
                f" (triaged postmortem draft {inc.id}, then postmortem complete {inc.id}, which closes it),"
                " or close it with --no-postmortem and -m saying why none will be written"
            )
        if owed and not reason.strip():
            raise PostmortemError("--no-postmortem needs a reason (-m): why will no postmortem be written?")
        moved = HumanActions(store, Router([])).move(inc.id, IncidentStatus.CLOSED, actor, reason, now)
        if owed:
            pm_rows.record_waiver(store, inc.id, by=actor, now=now, reason=reason.strip())
            rows.add_timeline(
                store,
                inc.id,
                now,
                "postmortem_waived",
                f"closed without the postmortem a {inc.severity.name} incident owes: {reason.strip()}",
                actor=actor,
                data={"reason": reason.strip()},
            )
    return moved
