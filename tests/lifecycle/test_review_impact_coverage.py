"""The postmortem's error budget row does not pass missing SLI samples off as nothing
consumed: no samples over the incident say "no SLI data", a partial cover says the
figure is a lower bound, a full cover prints the figure as before."""

from __future__ import annotations

from triaged.incidents.postmortem import gather, render
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.store import Store
from triaged.store import slo as slo_rows

from .conftest import T0, MakeIncident

# The incident: first symptom at T0, resolved 30 minutes later.
SPAN = 1800


def _slo_with_samples(store: Store, minutes: range) -> None:
    slo_rows.upsert_slo(store, name="checkout", service="api", good="g", total="t", objective=0.999,
                        window_s=86_400.0, interval_s=60.0, now=T0)  # fmt: skip
    for m in range(-120, 0):  # two healthy hours before
        slo_rows.add_sample(store, "checkout", T0 + 60 * m, 100.0, 100.0)
    for m in minutes:
        slo_rows.add_sample(store, "checkout", T0 + 60 * m, 80.0, 100.0)


def _budget_row(store: Store, make_incident: MakeIncident) -> str:
    inc = make_incident(service="api", resolved_at=float(SPAN))
    md = render(gather(store, inc.id, T0 + SPAN + 600), PostmortemPolicy(), None)
    (row,) = [line for line in md.splitlines() if line.startswith("| checkout |")]
    return row


def test_no_samples_during_the_incident_is_no_data_not_zero(
    store: Store, make_incident: MakeIncident
) -> None:
    _slo_with_samples(store, range(0))  # scrapes failed all through the outage
    row = _budget_row(store, make_incident)
    assert "no SLI data for this span" in row and "0 of 0" not in row and "0.00 %" not in row.split("|")[5]


def test_a_partial_cover_is_a_lower_bound(store: Store, make_incident: MakeIncident) -> None:
    _slo_with_samples(store, range(1, 11))  # the first 10 of 30 minutes, then nothing
    row = _budget_row(store, make_incident)
    assert "(SLI covered 10m of 30m: a lower bound)" in row
    assert "| ≥ " in row


def test_a_full_cover_prints_the_figure(store: Store, make_incident: MakeIncident) -> None:
    _slo_with_samples(store, range(1, 31))
    row = _budget_row(store, make_incident)
    assert "| 36,000 of 180,000 |" in row and "lower bound" not in row and "≥" not in row


def test_drafted_days_later_the_postmortem_still_counts_what_a_one_day_slo_spent(
    store: Store, make_incident: MakeIncident
) -> None:
    """The postmortem of a Friday incident under a 1-day SLO, drafted on Monday: the
    samples of Friday are kept (at least 14 days), and the draft reads them rather than
    the window ending Monday, which no longer reaches back to the incident."""
    from triaged.incidents import slo as slo_mod

    _slo_with_samples(store, range(1, 31))
    monday = T0 + SPAN + 3 * 86_400
    (checkout,) = slo_mod.load_slos(store)
    assert slo_mod.keep_since(checkout, monday) < T0 - 120 * 60  # nothing of Friday is dropped
    inc = make_incident(service="api", resolved_at=float(SPAN))
    md = render(gather(store, inc.id, monday), PostmortemPolicy(), None)
    (row,) = [line for line in md.splitlines() if line.startswith("| checkout |")]
    assert "| 36,000 of 180,000 |" in row and "no SLI data" not in row
