"""Parts of `triaged incidents show`: earlier lifetimes and the evidence chart."""

from __future__ import annotations

from typing import Any

import click

from triaged.cli.common import when


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
    from triaged.incidents.chart import render_text
    from triaged.incidents.postmortem_values import markers

    primary = [s for s in evidence if s["alertname"] == inc.rule] or evidence
    if not primary:
        return
    s = primary[0]
    labels = ",".join(f"{k}={v}" for k, v in sorted(s["labels"].items()) if k != "__name__")
    name = s["labels"].get("__name__", "")
    threshold = "" if s["threshold"] is None else f"   threshold {s['op']} {s['threshold']:.4g}"
    click.echo(f"\nEvidence: {name}{{{labels}}}  ({len(s['points'])} points{threshold})")
    for line in render_text(s["points"], markers(inc)):
        click.echo(f"  {line}")
    click.echo("  D detected  F firing  A acknowledged  M mitigated  R resolved")


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
