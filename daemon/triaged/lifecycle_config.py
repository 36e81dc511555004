"""Config sections for the incident lifecycle: ``slos``, ``postmortem``, ``actions``
and ``evidence``. Parsed here (and called from :mod:`triaged.config`) so the main
config module stays about sources, rules and notifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triaged.confnode import Problems, duration, expand_env, only_keys, positive_int, section
from triaged.model import Severity
from triaged.yamlfile import Node


@dataclass(frozen=True)
class SLOConfig:
    name: str
    good: str  # PromQL: good events per second, e.g. sum(rate(…{code!~"5.."}[1m]))
    total: str  # PromQL: all events per second
    objective: float  # fraction: 0.999 for `objective: 99.9`
    window_s: float = 30 * 86_400.0
    service: str = ""  # incidents of this service are charged against it ("" = all)
    interval_s: float = 60.0
    down: str = ""  # PromQL, non-empty while the service is down: charges a total outage


@dataclass(frozen=True)
class PostmortemConfig:
    due_s: float = 48 * 3600.0
    severities: frozenset[Severity] = frozenset({Severity.P0, Severity.P1})
    dir: str = "postmortems"


@dataclass(frozen=True)
class ActionsConfig:
    remind_before_s: float = 86_400.0
    remind_at: tuple[int, int] = (9, 0)  # daily reminder job, local time (hour, minute)


@dataclass(frozen=True)
class EvidenceConfig:
    before_s: float = 900.0
    step_s: float | None = None  # default: the evaluation interval
    max_points: int = 2000
    max_series: int = 20


@dataclass(frozen=True)
class LifecycleConfig:
    slos: tuple[SLOConfig, ...] = ()
    postmortem: PostmortemConfig = PostmortemConfig()
    actions: ActionsConfig = ActionsConfig()
    evidence: EvidenceConfig = EvidenceConfig()


TOP_KEYS = {"slos", "postmortem", "actions", "evidence"}


def parse_lifecycle(doc: Node, base_dir: str, problems: Problems) -> LifecycleConfig:
    """The lifecycle sections of ``doc``; each broken section or SLO is added to
    ``problems`` and replaced by its default, so the others are still checked."""
    p = problems
    parsed = tuple(p.each(p.nodes(doc, "slos"), _slo))
    seen: set[str] = set()
    for s in parsed:
        if s.name in seen:
            p.errors.append(doc.error("slos", f"duplicate SLO name {s.name!r}"))
        seen.add(s.name)
    return LifecycleConfig(
        slos=parsed,
        postmortem=p.attempt(
            lambda: _postmortem(section(doc, "postmortem"), base_dir),
            PostmortemConfig(dir=_join(base_dir, "postmortems")),
        ),
        actions=p.attempt(lambda: _actions(section(doc, "actions")), ActionsConfig()),
        evidence=p.attempt(lambda: _evidence(section(doc, "evidence")), EvidenceConfig()),
    )


def _slo(n: Node) -> SLOConfig:
    only_keys(n, {"name", "service", "good", "total", "down", "objective", "window", "interval"}, "slo")
    from triaged.promql import ExprError, parse_expr  # noqa: PLC0415 (config loads fast without PromQL)

    for key in ("name", "good", "total"):
        if not isinstance(n.get(key), str) or not n[key].strip():
            raise n.error(key if key in n else None, f"slo: missing required key '{key}'")
    if "down" in n and (not isinstance(n["down"], str) or not n["down"].strip()):
        raise n.error(
            "down", f'slo {n["name"]!r}: down: must be a PromQL expression, e.g. up{{job="api"}} == 0'
        )
    # `down` is optional: without it a total outage is a gap.
    for key in ("good", "total", "down") if "down" in n else ("good", "total"):
        try:
            parse_expr(n[key])
        except ExprError as exc:
            raise n.error(key, f"slo {n['name']!r}: {key}: {exc}") from exc
    objective = n.get("objective")
    if isinstance(objective, bool) or not isinstance(objective, int | float) or not 0 < objective < 100:
        raise n.error(
            "objective" if "objective" in n else None, "slo: objective must be a percentage, e.g. 99.9"
        )
    service = n.get("service", "")
    if not isinstance(service, str):
        raise n.error("service", "slo: service must be a string")
    return SLOConfig(
        name=n["name"].strip(),
        good=n["good"],
        total=n["total"],
        objective=round(float(objective) / 100.0, 12),  # 99.9 → 0.999, not 0.9990000000000001
        window_s=duration(n, "window", 30 * 86_400.0, positive=True),
        service=service,
        interval_s=duration(n, "interval", 60.0, positive=True),
        down=n.get("down", ""),
    )


def _postmortem(n: Node, base_dir: str) -> PostmortemConfig:
    only_keys(n, {"due", "severities", "dir"}, "postmortem")
    severities = n.get("severities", ["P0", "P1"])
    try:
        parsed = frozenset(Severity.parse(str(s)) for s in severities)
    except (TypeError, ValueError) as exc:
        raise n.error("severities", f"postmortem.severities: {exc}") from exc
    folder = n.get("dir", "postmortems")
    if not isinstance(folder, str) or not folder:
        raise n.error("dir", "postmortem.dir must be a path")
    return PostmortemConfig(
        due_s=duration(n, "due", 48 * 3600.0), severities=parsed, dir=str(_join(base_dir, folder))
    )


def _actions(n: Node) -> ActionsConfig:
    only_keys(n, {"remind_before", "remind_at"}, "actions")
    at = str(n.get("remind_at", "09:00"))
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if not m:
        raise n.error("remind_at", f"actions.remind_at must be HH:MM, got {at!r}")
    return ActionsConfig(
        remind_before_s=duration(n, "remind_before", 86_400.0), remind_at=(int(m.group(1)), int(m.group(2)))
    )


def _evidence(n: Node) -> EvidenceConfig:
    only_keys(n, {"before", "step", "max_points", "max_series"}, "evidence")
    return EvidenceConfig(
        before_s=duration(n, "before", 900.0),
        step_s=duration(n, "step", 0.0) or None,
        max_points=positive_int(n, "max_points", 2000),
        max_series=positive_int(n, "max_series", 20),
    )


# -- small getters (the ones in config.py are private to it) ---------------------------
def _join(base_dir: str, path: str) -> str:
    p = Path(expand_env(path))
    return str(p if p.is_absolute() else Path(base_dir) / p)


def build_lifecycle(cfg: Any, store: Any, engine: Any, router: Any) -> Any:
    """The daemon's :class:`~triaged.incidents.lifecycle.Lifecycle` from a Config.
    (Typed loosely and imported lazily: config must not import the incident layer.)"""
    from triaged.incidents.evidence import EvidencePolicy  # noqa: PLC0415
    from triaged.incidents.lifecycle import Lifecycle  # noqa: PLC0415
    from triaged.incidents.reminders import ReminderPolicy  # noqa: PLC0415

    lc: LifecycleConfig = cfg.lifecycle
    ev = lc.evidence
    return Lifecycle(
        store,
        engine,
        router,
        evidence=EvidencePolicy(
            before_s=ev.before_s,
            step_s=ev.step_s or cfg.evaluation_interval_s,
            max_points=ev.max_points,
            max_series=ev.max_series,
        ),
        slos=[slo_from_config(s) for s in lc.slos],
        postmortems=postmortem_policy(lc.postmortem),
        reminders=ReminderPolicy(remind_before_s=lc.actions.remind_before_s, remind_at=lc.actions.remind_at),
    )


def slo_from_config(s: SLOConfig) -> Any:
    from triaged.incidents.slo import SLO  # noqa: PLC0415

    return SLO(s.name, s.good, s.total, s.objective, s.window_s, s.service, s.interval_s, s.down)


def postmortem_policy(p: PostmortemConfig) -> Any:
    from triaged.incidents.postmortem_due import PostmortemPolicy  # noqa: PLC0415

    return PostmortemPolicy(due_s=p.due_s, severities=p.severities)
