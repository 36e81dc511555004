"""PromQL rule evaluation over BharatMart-shaped series, at 10k and 100k series.

Each size gets a Storage holding 1 h of 15 s scrapes (241 points per series) of
histogram buckets (`le`), counters labelled service/route/status, and gauges, in
the proportions one BharatMart instance exposes; more instances make more series.
The shipped rule file (rules/bharatmart.rules.yml) plus the priority-1 expressions
are then evaluated as rule groups, as the daemon's rule manager would.

Points share their timestamp list and a small pool of value arrays (tsdb `Floats`,
filled point by point as the storage fills them), so 24 M points fit in memory; the
evaluator does the same work as with distinct arrays.

    .venv/bin/python benchmarks/bench_promql.py [sizes...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import yaml

from triaged.model import Labels
from triaged.promql import Engine, parse_expr
from triaged.tsdb.series import Series
from triaged.tsdb.storage import Storage, StorageLimits

STEP_MS = 15_000
POINTS = 241  # 1 h of scrapes, both ends included
END_MS = 1_700_000_000_000
START_MS = END_MS - (POINTS - 1) * STEP_MS
TIMESTAMPS = list(range(START_MS, END_MS + 1, STEP_MS))
PATTERNS = 16
RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "bharatmart.rules.yml"

SERVICES = ["catalog", "cart", "checkout", "payments", "orders", "users"]
ROUTES = ["/", "/api/products", "/api/cart", "/api/checkout", "/api/orders", "/api/users",
          "/api/health", "/api/search"]  # fmt: skip
STATUSES = ["200", "404", "500"]
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]

PRIORITY_1 = [
    "histogram_quantile(0.95, sum by (le, service) "
    '(rate(http_request_duration_seconds_bucket{job="bharatmart"}[1m]))) > 0.5',
    'sum by (service)(rate(payments_processed_total{status="failed"}[1m])) '
    "/ sum by (service)(rate(payments_processed_total[1m])) > 0.05",
    "max by (service)(db_pool_connections_in_use / db_pool_connections_max) > 0.8",
    'max by (service)(chaos_enabled{environment="production"}) == 1',
    "up == 0",
    "probe_success == 0",
    'absent(up{job="x"})',
    'increase(errors_total{error_type="startup_failure"}[5m]) > 0',
]  # fmt: skip


def _counter(rate_per_s: float) -> list[float]:
    return [i * STEP_MS / 1000 * rate_per_s for i in range(POINTS)]


def _pools() -> dict[str, list[Series]]:
    bucket_share = [0.2, 0.35, 0.5, 0.62, 0.75, 0.86, 0.93, 0.97, 0.99, 0.995, 0.999, 1.0]
    pools: dict[str, list[list[float]]] = {}
    for j, share in enumerate(bucket_share):
        pools[f"le{j}"] = [_counter((p + 1) * share) for p in range(PATTERNS)]
    pools["counter"] = [_counter(p + 1) for p in range(PATTERNS)]
    pools["gauge"] = [[float(p % 10)] * POINTS for p in range(PATTERNS)]
    pools["one"] = [[1.0] * POINTS]
    return {name: [_filled(values) for values in pool] for name, pool in pools.items()}


def _filled(values: list[float]) -> Series:
    """A template series written the way Storage writes one (packed values, dirty time)."""
    template = Series(Labels())
    for t, v in zip(TIMESTAMPS, values, strict=True):
        template.append(t, v)
    return template


def _add(storage: Storage, labels: Labels, values: Series | list[float]) -> None:
    series = storage.get_or_create(labels)
    assert series is not None
    template = values if isinstance(values, Series) else _filled(values)
    series.timestamps = TIMESTAMPS
    series.values = template.values
    series.dirty = template.dirty


def _instance(storage: Storage, pools: dict[str, list[Series]], n: int) -> None:
    inst = f"pod-{n}"
    pick = 0
    for svc in SERVICES:
        base = {"job": "bharatmart", "service": svc, "instance": inst}
        for route in ROUTES:
            for status in STATUSES:
                pick += 1
                labels = {**base, "route": route, "status": status}
                for j, le in enumerate(BUCKETS):
                    _add(storage, Labels.of(labels, __name__="http_request_duration_seconds_bucket",
                                            le=le), pools[f"le{j}"][pick % PATTERNS])  # fmt: skip
                _add(storage, Labels.of(labels, __name__="http_requests_total"),
                     pools["counter"][pick % PATTERNS])  # fmt: skip
        for status in ("success", "failed"):
            _add(storage, Labels.of(base, __name__="payments_processed_total", status=status),
                 pools["counter"][(n + len(status)) % PATTERNS])  # fmt: skip
        for err in ("startup_failure", "db_timeout", "validation"):
            _add(storage, Labels.of(base, __name__="errors_total", error_type=err),
                 pools["counter"][n % PATTERNS])  # fmt: skip
        _add(storage, Labels.of(base, __name__="db_pool_connections_in_use"), pools["gauge"][n % PATTERNS])
        _add(storage, Labels.of(base, __name__="db_pool_connections_max"), [10.0] * POINTS)
        env = {**base, "environment": "production"}
        _add(storage, Labels.of(env, __name__="chaos_enabled"), pools["gauge"][0])
        _add(storage, Labels.of(env, __name__="chaos_events_total"), pools["gauge"][0])
        _add(storage, Labels.of(env, __name__="simulated_latency_ms"), pools["gauge"][0])
        _add(storage, Labels.of(base, __name__="up"), pools["one"][0])
    for job in ("bharatmart-health", "bharatmart-ready"):
        _add(storage, Labels.of(__name__="probe_success", job=job, instance=inst), pools["one"][0])


def build(series: int) -> Storage:
    storage = Storage(StorageLimits(retention_ms=None, max_series=10_000_000))
    pools = _pools()
    n = 0
    while len(storage) < series:
        _instance(storage, pools, n)
        n += 1
    return storage


def rule_groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"priority-1": PRIORITY_1}
    if RULES_FILE.exists():
        doc = yaml.safe_load(RULES_FILE.read_text())
        for group in doc.get("groups", []):
            groups[group["name"]] = [r["expr"] for r in group["rules"] if "expr" in r]
    return groups


def bench(size: int, runs: int) -> None:
    started = time.perf_counter()
    storage = build(size)
    built = time.perf_counter() - started
    engine = Engine(storage)
    groups = {name: [parse_expr(e) for e in exprs] for name, exprs in rule_groups().items()}
    rules = sum(len(g) for g in groups.values())
    cached = isinstance(getattr(storage, "generation", None), int)
    state = "on" if cached else "off (Storage has no `generation` counter)"
    print(f"\nselector cache: {state}")
    print(f"{len(storage):,} series, {len(storage) * POINTS / 1e6:.1f} M points (built in {built:.1f} s)")
    per_group: dict[str, list[float]] = {name: [] for name in groups}
    cycles: list[float] = []
    for _ in range(runs):
        cycle = 0.0
        for name, exprs in groups.items():
            t0 = time.perf_counter()
            for expr in exprs:
                engine.instant(expr, END_MS)
            elapsed = time.perf_counter() - t0
            per_group[name].append(elapsed)
            cycle += elapsed
        cycles.append(cycle)
    for name, times in per_group.items():
        print(f"  group {name:<22} {len(groups[name]):2d} rules  {statistics.median(times) * 1000:8.1f} ms")
    cycle = statistics.median(cycles)
    shipped = sum(statistics.median(t) for n, t in per_group.items() if n != "priority-1")
    print(f"  all {rules} rules: {cycle * 1000:.1f} ms per cycle, {rules / cycle:.1f} evaluations/s")
    print(f"  shipped rule file only: {shipped * 1000:.1f} ms per cycle")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    for size in sizes:
        bench(size, runs=5 if size <= 20_000 else 3)


if __name__ == "__main__":
    main()
