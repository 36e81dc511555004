"""`triaged postmortem …`: draft, check and complete blameless postmortems."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triaged.cli.common import (
    BY_DEFAULT,
    ID,
    MAX_ID,
    actor_default,
    by_given,
    config_option,
    config_or_defaults,
    db_option,
    json_option,
    open_db,
    print_json,
    table,
    when,
)

if TYPE_CHECKING:  # the CLI imports these lazily, for start-up time
    from triaged.incidents.model import Incident
    from triaged.incidents.postmortem_due import PostmortemPolicy
    from triaged.store.db import Store


def lifecycle_config(config_path: str | None) -> Any:
    """The lifecycle settings of --config, or the defaults without one."""
    from triaged.lifecycle_config import LifecycleConfig

    cfg = config_or_defaults(config_path, "default postmortem and action item settings")
    return LifecycleConfig() if cfg is None else cfg.lifecycle


def policy_from(config_path: str | None) -> Any:
    from triaged.lifecycle_config import postmortem_policy

    return postmortem_policy(lifecycle_config(config_path).postmortem)


@click.group()
def postmortem() -> None:
    """Blameless postmortems drafted from the recorded incident.

    \b
    Examples:
      triaged postmortem draft 5      Markdown + SVG chart, pre-filled from the record
      triaged postmortem check 5      blameful phrasing, file:line; exit 1 if any
      triaged postmortem complete 5   closes the incident
      triaged postmortem list --due   late ones"""


@postmortem.command("draft")
@click.argument("incident_id", type=ID)
@click.option(
    "--out",
    "out_dir",
    default=None,
    metavar="DIR",
    help="Folder [default: postmortem.dir, else ./postmortems].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Draft again over an existing draft (e.g. to pick up a reopen or new action items):"
    " what you wrote in its summary, root cause and lessons is carried over, the rest is"
    " drafted afresh, and the old file is kept beside it as .bak.",
)
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def draft_cmd(
    incident_id: int,
    out_dir: str | None,
    force: bool,
    actor: str | None,
    db_path: str | None,
    config_path: str | None,
) -> None:
    """Write INCIDENT's postmortem (Markdown) and a chart of the triggering metric (SVG),
    pre-filled from the timeline and evidence. Moves the incident to `postmortem`.

    An existing draft is never overwritten silently: without --force it is refused;
    with --force the old file is first copied to a .bak beside it, and the text you
    wrote in its summary, root cause and lessons is carried into the new one. Without --out, a
    draft is drafted again where it was first written. A draft recorded elsewhere, or
    a completed postmortem, is drafted again only with --force."""
    from triaged.incidents.postmortem_ops import PostmortemError, md_path, recorded_dir, write_draft

    store = open_db(db_path, config_path)
    # Without --out, draft again where the recorded draft is: the default folder is
    # relative to the working directory, which may not be where the draft was written.
    folder = (Path(out_dir) if out_dir else recorded_dir(store, incident_id)) or Path(
        lifecycle_config(config_path).postmortem.dir
    )
    backup = _backup(md_path(folder.resolve(), incident_id)) if force else None
    written = None
    try:
        written = write_draft(
            store,
            incident_id,
            folder,
            actor=actor or actor_default(),
            now=time.time(),
            policy=policy_from(config_path),
            force=force,
        )
    except (PostmortemError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    finally:
        if backup is not None and written is None:
            backup.unlink(missing_ok=True)  # the draft is written whole or not at all: nothing was lost
    if backup is not None:
        click.echo(f"kept the previous draft, with any edits, as {backup}")
    click.echo(f"wrote {written.markdown}")
    if written.kept:
        click.echo(
            f"carried your text over from the previous draft: {', '.join(written.kept)}"
            " (other sections are drafted afresh; edits there are in the .bak)"
        )
    if written.chart is not None:
        click.echo(f"wrote {written.chart}")
    else:
        click.echo("no evidence was recorded for this incident: the draft has no chart")
    if written.flagged:
        click.echo(
            f"{written.flagged} blameful phrase(s) found in timeline notes:"
            " see 'Blameless review' in the draft"
        )


def _backup(md: Path) -> Path | None:
    """Copy an existing draft aside before --force rewrites it."""
    import shutil

    if not md.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backup = md.with_name(f"{md.name}.{stamp}.bak")
    try:
        shutil.copy2(md, backup)
    except OSError as exc:
        raise click.ClickException(f"{backup}: cannot keep a copy of the old draft: {exc.strerror}") from exc
    return backup


@postmortem.command("check")
@click.argument("target")
@db_option
@config_option()
def check_cmd(target: str, db_path: str | None, config_path: str | None) -> None:
    """Flag blameful phrasing in a postmortem: TARGET is an incident number (its draft,
    found through the database) or a Markdown file (no database needed; with --db or
    --config, the incident's people are checked for too). Exits 1 when something is found."""
    from triaged.incidents.blameless import format_findings
    from triaged.incidents.postmortem_ops import PostmortemError, check

    if target.strip().removeprefix("#").isdigit():  # 5, or #5 pasted as printed
        store, incident_id = open_db(db_path, config_path), ID.convert(target, None, None)
        _must_exist(store, incident_id)
        try:
            where, findings = check(store, incident_id)
        except PostmortemError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        where, findings = _check_file(Path(target), db_path, config_path)
    for line in format_findings(findings, str(where)):
        click.echo(line)
    _echo_unwritten(where)
    if findings:
        raise click.exceptions.Exit(1)
    click.echo(f"{where}: no blameful phrasing found")


def _echo_unwritten(path: Path, *, closed: bool = False) -> None:
    """Say which parts people write are still the drafted prompts (not an error: the
    team may have nothing to add to one of them)."""
    from triaged.incidents.postmortem_blocks import unwritten

    try:
        blank = unwritten(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return
    if blank:
        done = "the postmortem was completed without them" if closed else "write them before completing it"
        click.echo(f"{path}: still as drafted, nothing written yet: {', '.join(blank)} ({done})")


def _must_exist(store: Any, incident_id: int) -> None:
    """``no incident #7`` rather than advice about a draft it cannot have."""
    from triaged.store import incidents as rows

    if rows.get_incident(store, incident_id) is None:
        raise click.ClickException(f"no incident #{incident_id}")


def _check_file(path: Path, db_path: str | None, config_path: str | None) -> tuple[Path, list[Any]]:
    """A file is checked on its own. If a database was named and the file is a draft
    (``incident-N-postmortem.md``), naming one of incident N's people as a cause is
    flagged too."""
    import re

    from triaged.incidents.blameless import scan
    from triaged.incidents.postmortem_ops import people_of

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise click.ClickException(f"{path}: no such file") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from exc
    people: set[str] = set()
    draft = re.fullmatch(r"incident-(\d+)-postmortem\.md", path.name)
    if draft and int(draft.group(1)) <= MAX_ID and (db_path or config_path):
        people = people_of(open_db(db_path, config_path), int(draft.group(1)))
    return path, scan(text, people)


@postmortem.command("complete")
@click.argument("incident_id", type=ID)
@click.option(
    "--force",
    is_flag=True,
    help="Complete even though blameful phrasing was found or nothing in the draft was written.",
)
@click.option("--by", "actor", default=None, callback=by_given, help=f"Who (default: {BY_DEFAULT}).")
@db_option
@config_option()
def complete_cmd(
    incident_id: int, force: bool, actor: str | None, db_path: str | None, config_path: str | None
) -> None:
    """Mark the (edited) postmortem complete and close the incident."""
    from triaged.incidents.blameless import format_findings
    from triaged.incidents.postmortem_ops import PostmortemError, complete

    store = open_db(db_path, config_path)
    _must_exist(store, incident_id)
    try:
        done, path, findings = complete(
            store, incident_id, actor=actor or actor_default(), now=time.time(), force=force
        )
    except PostmortemError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in format_findings(findings, str(path)):
        click.echo(line)
    if not done:
        raise click.ClickException("blameful phrasing found: reword it, or use --force")
    click.echo(f"postmortem of incident #{incident_id} complete; incident closed")
    _echo_unwritten(path, closed=True)


def _postmortem_incidents(store: Store, policy: PostmortemPolicy, ids: list[int]) -> list[Incident]:
    """Every incident a postmortem is owed, drafted or waived for, newest first: not
    only those among the newest incidents."""
    from triaged.store import incidents as rows

    found = {i.id: i for i in rows.awaiting_postmortem(store, [s.name for s in policy.severities])}
    for incident_id in ids:
        if incident_id not in found and (inc := rows.get_incident(store, incident_id)) is not None:
            found[incident_id] = inc
    return [found[i] for i in sorted(found, reverse=True)]


@postmortem.command("list")
@click.option("--due", "only_late", is_flag=True, help="Only postmortems that are late.")
@db_option
@config_option()
@json_option
def list_cmd(only_late: bool, db_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Postmortems owed (P0/P1 by default) and drafted, with their due dates."""
    from triaged.incidents.postmortem_due import postmortem_status, required
    from triaged.store import postmortems as pm_rows

    store = open_db(db_path, config_path)
    policy = policy_from(config_path)
    now = time.time()
    records = pm_rows.all_postmortems(store)
    waivers = pm_rows.all_waivers(store)
    out: list[dict[str, Any]] = []
    for inc in _postmortem_incidents(store, policy, [*records, *waivers]):
        record = records.get(inc.id)
        if record is None and not required(inc, policy):
            continue
        status = postmortem_status(inc, record, policy, now, waived=inc.id in waivers)
        if only_late and "late" not in status:
            continue
        owed = required(inc, policy) and status != "waived"
        due = inc.resolved_at + policy.due_s if owed and inc.resolved_at else None
        out.append(
            {
                "incident": inc.id,
                "severity": inc.severity.name,
                "title": inc.title,
                "status": status,
                "due_at": due,
                "path": record["path"] if record else None,
            }
        )
    if as_json:
        print_json(out)
        return
    if not out:
        click.echo("no late postmortems" if only_late else "no postmortems owed or drafted")
        return
    click.echo(
        table(
            ("INCIDENT", "SEV", "STATUS", "DUE", "TITLE", "FILE"),
            [
                (
                    f"#{o['incident']}",
                    o["severity"],
                    o["status"],
                    when(o["due_at"]),
                    o["title"][:50],
                    o["path"] or "-",
                )
                for o in out
            ],
        )
    )
