"""Writing, checking and completing postmortem files; the incident moves with them
(resolved → postmortem when drafted, → closed when complete)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triaged.alerts.route import Router
from triaged.incidents.blameless import Finding, scan
from triaged.incidents.human import HumanActions
from triaged.incidents.model import IncidentStatus
from triaged.incidents.postmortem import gather, render, render_chart
from triaged.incidents.postmortem_due import PostmortemPolicy
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
    md = md_path(out_dir, inc.id)
    if md.exists() and not force:
        raise PostmortemError(f"{md} exists (and may hold edits): use --force to draft it again")
    out_dir.mkdir(parents=True, exist_ok=True)
    svg = render_chart(facts)
    chart = out_dir / f"incident-{inc.id}-chart.svg" if svg is not None else None
    if chart is not None and svg is not None:
        chart.write_text(svg, encoding="utf-8")
    md.write_text(render(facts, policy, chart.name if chart else None), encoding="utf-8")
    with store.atomic():
        pm_rows.record_draft(
            store,
            inc.id,
            path=str(md.resolve()),
            chart_path=str(chart.resolve()) if chart else None,
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
    return Written(md, chart, len(facts.findings))


def people_of(store: Store, incident_id: int) -> set[str]:
    inc = rows.get_incident(store, incident_id)
    names = {e["actor"] for e in rows.timeline(store, incident_id)}
    names |= {a.owner for a in action_rows.list_items(store, incident_id=incident_id)}
    if inc is not None and inc.assignee:
        names.add(inc.assignee)
    names.discard("triaged")
    return names


def check(store: Store, incident_id: int, path: Path | None = None) -> tuple[Path, list[Finding]]:
    if path is None:
        record = pm_rows.get(store, incident_id)
        if record is None:
            raise PostmortemError(
                f"incident #{incident_id} has no postmortem draft: run `triaged postmortem draft`"
            )
        path = Path(record["path"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PostmortemError(f"{path}: {exc.strerror}") from exc
    return path, scan(text, people_of(store, incident_id))


def complete(
    store: Store, incident_id: int, *, actor: str, now: float, force: bool = False
) -> tuple[bool, Path, list[Finding]]:
    """Mark the postmortem done and close the incident. Refuses (returns False) while
    the text still has blameful phrasing, unless ``force``; returns the findings."""
    path, findings = check(store, incident_id)
    if findings and not force:
        return False, path, findings
    inc = rows.get_incident(store, incident_id)
    assert inc is not None
    with store.atomic():
        pm_rows.record_completed(store, incident_id, by=actor, now=now, findings=len(findings))
        if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM):
            HumanActions(store, Router([])).move(
                inc.id, IncidentStatus.CLOSED, actor, "postmortem complete", now
            )
    return True, path, findings
