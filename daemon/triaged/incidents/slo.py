"""Service level objectives and their error budgets.

An SLI is two PromQL expressions, *good* and *total*, best written as per-second rates
over a window close to the recording interval (``sum(rate(requests_total{code!~"5.."}[1m]))``).
The daemon evaluates both every ``interval`` over its tsdb and stores the pair in
SQLite (:class:`SLORecorder`); everything else (``triaged slo status``, the postmortem,
the report) integrates those samples over time, so it works from the database alone.

Budget arithmetic, for a window W and objective o:

* events in a slice = rate × seconds the sample covers (its gap to the previous
  sample, capped, so a daemon that was down does not invent traffic);
* allowed bad events = (1 − o) × total events in W; while less than W has been
  recorded, the total is extrapolated at the observed average rate;
* consumed = bad events ÷ allowed bad events (above 100 % the budget is blown);
  an incident's share is the bad events between detection and resolve over the same
  allowance;
* a total outage (``total`` returns nothing: the app cannot be scraped) is a gap,
  unless the SLO has a ``down`` expression and it returns something: then the sample
  is all bad at the traffic last measured before, and marked *estimated*, so that
  every figure built on it can say how much of it is an estimate
  (:attr:`Events.estimated_s`, :func:`estimated_text`).

No samples at all is not a perfect score: :attr:`Budget.has_data` says whether there is
anything to judge, and :func:`share_text` / :func:`remaining_text` print budgets the
same way everywhere (never "0.00 %" for a burn that is not zero, "exhausted" past 100 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from triaged.durations import format_duration
from triaged.promql import Engine, ExprError, Scalar, Vector
from triaged.store import slo as slo_rows
from triaged.store.db import Store

log = structlog.get_logger("triaged.slo")

# t, good, total (rates), and whether it is estimated (stored samples carry it; a
# sample without it is measured).
Sample = tuple[float, float, float] | tuple[float, float, float, bool]


@dataclass(frozen=True)
class SLO:
    name: str
    good: str
    total: str
    objective: float  # a fraction: 0.999 for 99.9 %
    window_s: float
    service: str = ""
    interval_s: float = 60.0
    # PromQL that returns something while the service is down (``up{job="x"} == 0``):
    # with it, a total outage is charged instead of skipped. "" = no such expression.
    down: str = ""


@dataclass(frozen=True)
class Events:
    good: float
    total: float
    covered_s: float
    estimated_s: float = 0.0  # of covered_s: outage estimated at the traffic before it

    @property
    def bad(self) -> float:
        return max(0.0, self.total - self.good)


@dataclass(frozen=True)
class Budget:
    slo: SLO
    events: Events
    allowed_bad: float  # error budget for the whole window, in events
    consumed: float  # fraction of the budget spent (may exceed 1)

    @property
    def remaining(self) -> float:
        return 1.0 - self.consumed

    @property
    def sli(self) -> float | None:
        return self.events.good / self.events.total if self.events.total > 0 else None

    @property
    def has_data(self) -> bool:
        """False when no sample falls in the window: the budget is unknown, not untouched."""
        return self.events.covered_s > 0


def integrate(samples: Sequence[Sample], since: float, until: float, interval_s: float) -> Events:
    """Events between ``since`` and ``until``. Each sample covers the time back to the
    previous one (at most two intervals), clipped to the range."""
    good = total = covered = estimated = 0.0
    previous: float | None = None
    for sample in samples:
        t, g, tot = sample[0], sample[1], sample[2]
        start = t - min(2 * interval_s, t - previous) if previous is not None else t - interval_s
        previous = t
        lo, hi = max(start, since), min(t, until)
        if hi <= lo or not (math.isfinite(g) and math.isfinite(tot)):
            continue
        seconds = hi - lo
        slice_total = max(0.0, tot)
        # Good is clipped per slice: a sample where good > total (the two expressions
        # saw different scrapes) must not cancel the bad events of other slices.
        good += min(max(0.0, g), slice_total) * seconds
        total += slice_total * seconds
        covered += seconds
        if len(sample) > 3 and sample[3]:
            estimated += seconds
    return Events(good, total, covered, estimated)


def allowance(slo: SLO, window: Events) -> float:
    """Bad events the objective allows over the whole window."""
    if window.covered_s <= 0:
        return 0.0
    expected_total = window.total * max(1.0, slo.window_s / window.covered_s)
    return (1.0 - slo.objective) * expected_total


def budget(slo: SLO, samples: Sequence[Sample], now: float) -> Budget:
    window = integrate(samples, now - slo.window_s, now, slo.interval_s)
    allowed = allowance(slo, window)
    return Budget(slo, window, allowed, share_of_budget(window.bad, allowed))


def incident_budget(
    slo: SLO, samples: Sequence[Sample], spans: Sequence[tuple[float, float]]
) -> tuple[Events, Budget]:
    """Events during the incident's ``spans`` (``(start, end)``, one per lifetime of a
    reopened incident: the healthy gaps between them spent nothing on its account) and
    the budget of the window ending where the last span ends."""
    parts = [integrate(samples, start, end, slo.interval_s) for start, end in spans]
    during = Events(
        sum(p.good for p in parts),
        sum(p.total for p in parts),
        sum(p.covered_s for p in parts),
        sum(p.estimated_s for p in parts),
    )
    whole = budget(slo, samples, max(end for _, end in spans))
    return during, whole


# The spans `slo status` shows burn rates over: the long windows of the SRE workbook's
# multiwindow alerts (page on 14.4× over 1 h, ticket on 6× over 6 h, for 30 days).
BURN_SPANS_S = (3600.0, 6 * 3600.0)


def burn_rate(slo: SLO, samples: Sequence[Sample], now: float, span_s: float) -> float | None:
    """How fast the budget is being spent over the last ``span_s``: the share of bad
    events there divided by the share the objective allows. At 1 the budget lasts
    exactly the window; at 14.4 a 30-day budget loses 2 % in an hour. None without
    traffic in the span, or for a span longer than the window (samples are kept for
    one window only)."""
    allowed = 1.0 - slo.objective
    if span_s > slo.window_s or allowed <= 0:
        return None
    recent = integrate(samples, now - span_s, now, slo.interval_s)
    if recent.total <= 0:
        return None
    return (recent.bad / recent.total) / allowed


def burn_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}×" if rate < 100 else f"{rate:.0f}×"


def share_of_budget(bad: float, allowed: float) -> float:
    """``bad`` events as a share of an allowance (past 1: overspent; inf for any bad
    event against an allowance of zero)."""
    if allowed > 0:
        return bad / allowed
    return 0.0 if bad <= 0 else math.inf


# -- for people -----------------------------------------------------------------------
def share_text(v: float | None, *, lower_bound: bool = False) -> str:
    """A share of the error budget: two decimals, more for a small burn so that a
    burn that is not zero never shows as "0.00 %", never rounded up to 100 %, and
    "exhausted" once it is past 100 %. ``lower_bound``: the figure is at least this."""
    if v is None or math.isnan(v):
        return "-"
    if math.isinf(v):
        return "exhausted"  # bad events against an allowance of zero
    text = percent(v)
    if lower_bound and not text.startswith(">"):
        text = f"≥ {text}"
    return f"{text} (exhausted)" if v >= 1 else text


def events_text(n: float) -> str:
    """An event count for people: whole and grouped once it is large (a count read
    off counters is fractional, and "3.6e+04" is not how anyone reads requests)."""
    if n >= 100:
        return f"{n:,.0f}"
    if 0 < n < 0.01:
        return "< 0.01"
    return f"{n:.2f}".rstrip("0").rstrip(".")


def estimated_text(estimated_s: float) -> str:
    """How much of a figure is an outage charged at the traffic before it ("" if none)."""
    if estimated_s <= 0:
        return ""
    return f"includes {format_duration(estimated_s)} of outage estimated at the traffic seen before it"


def used_text(consumed: float, has_data: bool) -> str:
    """Budget used over a window: "no data" rather than 0 % when nothing was recorded."""
    return share_text(consumed) if has_data else "no data"


def remaining_text(consumed: float, has_data: bool) -> str:
    """Budget left in the window: "exhausted" rather than a negative percentage, and
    "no data" rather than 100 % when nothing was recorded."""
    if not has_data:
        return "no data"
    if consumed >= 1:
        return "0 % (exhausted)"
    return percent(1.0 - consumed)


def sli_text(sli: float | None, has_data: bool) -> str:
    """An SLI, never rounded up to 100 % while anything failed."""
    if not has_data:
        return "no data"
    return "no traffic" if sli is None else percent(sli, digits=3)


def finite(v: float | None) -> float | None:
    """For JSON: ``Infinity`` is not JSON, and ``null`` reads as unknown or unbounded."""
    return v if v is not None and math.isfinite(v) else None


def percent(v: float, digits: int = 2) -> str:
    """A fraction as a percentage for people (see :func:`share_text`)."""
    p = v * 100
    if 0 < p < 1e-6:
        return "> 0 %"
    if 0 < p < 10**-digits:
        digits = 1 - math.floor(math.log10(p))  # two significant digits: 0.0019 %, not 0.00 %
    text = f"{p:.{digits}f}"
    if float(text) >= 100 and v < 1:  # 99.9996 % is not 100 %
        text = f"{math.floor(p * 10**digits) / 10**digits:.{digits}f}"
    return f"{text} %"


def slo_from_row(row: dict[str, object]) -> SLO:
    return SLO(
        name=str(row["name"]),
        good=str(row["good"]),
        total=str(row["total"]),
        objective=float(row["objective"]),  # type: ignore[arg-type]
        window_s=float(row["window_s"]),  # type: ignore[arg-type]
        service=str(row["service"] or ""),
        interval_s=float(row["interval_s"]),  # type: ignore[arg-type]
        down=str(row.get("down") or ""),
    )


def load_slos(store: Store, *, since: float | None = None) -> list[SLO]:
    """The SLOs the daemon records now; with ``since``, also those taken out of the
    config after that time."""
    return [slo_from_row(r) for r in slo_rows.list_slos(store, since=since)]


def applies_to(slo: SLO, service: str) -> bool:
    return not slo.service or slo.service == service


# Samples are kept for the SLO's window, and at least this long: the postmortem of an
# incident under a 1-day SLO, drafted days later, still sees the minutes it spent.
KEEP_AT_LEAST_S = 14 * 86_400.0


def samples_for(store: Store, slo: SLO, now: float, *, since: float | None = None) -> list[Sample]:
    """The samples of the window ending ``now`` (from ``since`` instead, if earlier),
    each with a fourth item: True for a sample estimated during an outage (``SLO.down``)."""
    start = now - slo.window_s - 2 * slo.interval_s
    return list(slo_rows.samples(store, slo.name, start if since is None else min(start, since), now))


def keep_since(slo: SLO, now: float) -> float:
    """Samples older than this are dropped."""
    return now - max(slo.window_s, KEEP_AT_LEAST_S) - 2 * slo.interval_s


class SLORecorder:
    """Evaluates each SLI on its interval and stores the sample (daemon side)."""

    def __init__(self, store: Store, engine: Engine, slos: Sequence[SLO]) -> None:
        self.store = store
        self.engine = engine
        self.slos = list(slos)
        self._last: dict[str, float] = {}
        self._failing: dict[str, str] = {}
        self._defined = False

    def record(self, now: float) -> int:
        """Record the SLIs that are due. Returns how many samples were written."""
        if not self._defined:
            self._define(now)
        if not self.slos:
            return 0
        written = 0
        for slo in self.slos:
            if now - self._last.get(slo.name, -math.inf) < slo.interval_s - 0.05:
                continue
            self._last[slo.name] = now
            sample = self._evaluate(slo, now)
            if sample is None:
                continue
            good, total, estimated = sample
            with self.store.atomic():
                slo_rows.add_sample(self.store, slo.name, now, good, total, estimated=estimated)
                slo_rows.gc(self.store, slo.name, keep_since(slo, now))
            written += 1
        return written

    def _define(self, now: float) -> None:
        with self.store.atomic():
            for slo in self.slos:
                slo_rows.upsert_slo(
                    self.store,
                    name=slo.name,
                    service=slo.service,
                    good=slo.good,
                    total=slo.total,
                    down=slo.down,
                    objective=slo.objective,
                    window_s=slo.window_s,
                    interval_s=slo.interval_s,
                    now=now,
                )
                last = slo_rows.last_sample_at(self.store, slo.name)
                if last is not None:  # after a restart, keep the interval
                    self._last[slo.name] = last
            retired = slo_rows.retire_others(self.store, [s.name for s in self.slos], now)
        if retired:
            log.info("slos_retired", slos=retired)
        self._defined = True

    def _evaluate(self, slo: SLO, now: float) -> tuple[float, float, bool] | None:
        """(good, total, estimated), or None for a gap."""
        try:
            good = self._scalar(slo.good, now)
            total = self._scalar(slo.total, now)
            down = total is None and bool(slo.down) and self._returns_something(slo.down, now)
        except (ExprError, ValueError) as exc:
            if self._failing.get(slo.name) != str(exc):
                log.warning("slo_eval_failed", slo=slo.name, error=str(exc))
            self._failing[slo.name] = str(exc)
            return None
        self._failing.pop(slo.name, None)
        if total is None:
            # No traffic data: a gap, not a perfect score; or, while `down` says the
            # service is down (the app cannot even be scraped), all bad at the traffic
            # of the hour before. No traffic then: nothing to estimate from, a gap.
            last = slo_rows.traffic_before(self.store, slo.name) if down else None
            return None if last is None else (0.0, last, True)
        # Traffic but no good series at all (every request fails and the success
        # series never existed or went stale): that is zero good, the worst minute of
        # the outage, not a gap to skip.
        return (0.0 if good is None else good), total, False

    def _returns_something(self, expr: str, now: float) -> bool:
        """A vector with at least one series (``up == 0`` returns the series that are
        down, valued 0), or a scalar other than 0."""
        result = self.engine.instant(expr, int(now * 1000))
        if isinstance(result, Scalar):
            return math.isfinite(result.value) and result.value != 0
        if isinstance(result, Vector):
            return len(result) > 0
        raise ValueError(f"SLO down expression must return a vector or scalar: {expr}")

    def _scalar(self, expr: str, now: float) -> float | None:
        result = self.engine.instant(expr, int(now * 1000))
        if isinstance(result, Scalar):
            values = [result.value]
        elif isinstance(result, Vector):
            values = [s.value for s in result]
        else:
            raise ValueError(f"SLI expression must return a vector or scalar: {expr}")
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) if finite else None
