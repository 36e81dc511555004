"""The SVG chart (parsed back with xml.etree) and the terminal chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from triaged.incidents.chart import Chart, ChartSeries, Marker, render_svg, render_text

from .conftest import T0

NS = "{http://www.w3.org/2000/svg}"


def chart() -> Chart:
    points = [(T0 + i, float(i % 7)) for i in range(30)] + [(T0 + 30, None), (T0 + 31, 2.0), (T0 + 32, 3.0)]
    return Chart(
        title="Incident #1 — Errors & <things>",
        series=[ChartSeries("errors{svc=api}", points), ChartSeries("other", [(T0, 1.0), (T0 + 32, 1.0)])],
        markers=[Marker("detected", T0 + 5), Marker("acknowledged", T0 + 9), Marker("resolved", T0 + 30)],
        threshold=4.0,
    )


def test_svg_is_well_formed_with_markers_threshold_and_every_point() -> None:
    root = ET.fromstring(render_svg(chart()))
    assert root.tag == f"{NS}svg"
    assert root.findtext(f"{NS}title") == "Incident #1 — Errors & <things>"
    marks = {
        g.get("data-marker"): float(g.get("data-t", "nan"))
        for g in root.iter(f"{NS}g")
        if g.get("class") == "marker"
    }
    assert marks == {"detected": T0 + 5, "acknowledged": T0 + 9, "resolved": T0 + 30}
    lines = [p for p in root.iter(f"{NS}polyline") if p.get("data-name") == "errors{svc=api}"]
    assert [len(p.get("points", "").split()) for p in lines] == [30, 2], "a missing value breaks the line"
    threshold = root.find(f"{NS}line[@class='threshold']")
    assert threshold is not None and threshold.get("data-value") == "4"


def test_points_and_markers_are_placed_on_the_same_time_axis() -> None:
    root = ET.fromstring(render_svg(chart()))
    line = next(p for p in root.iter(f"{NS}polyline") if p.get("data-name") == "errors{svc=api}")
    xs = [float(pair.split(",")[0]) for pair in line.get("points", "").split()]
    assert xs == sorted(xs) and xs[0] == 64.0  # left margin: the first point is the earliest time
    detected = next(g for g in root.iter(f"{NS}g") if g.get("data-marker") == "detected")
    x = float(detected.find(f"{NS}line").get("x1"))  # type: ignore[union-attr]
    assert x == xs[5], "the detect marker sits on the point recorded at the same time"


def test_text_chart_marks_detect_ack_and_resolve() -> None:
    lines = render_text(
        [(T0 + i, float(i)) for i in range(60)], [Marker("detected", T0), Marker("resolved", T0 + 59)]
    )
    assert len(lines) == 3
    assert lines[0].startswith("▁") and "█" in lines[0] and lines[0].endswith("max 59")
    assert lines[1].startswith("D") and "R" in lines[1] and lines[1].endswith("min 0")
    assert render_text([]) == ["(no evidence recorded)"]
