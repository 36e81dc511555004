"""Ingest throughput: exposition parsing, parse + tsdb append, and prometheus-client.

The real BharatMart capture (metrics-normal.txt, 162 samples) is inflated to 10k and
100k samples by copying it with a distinct ``instance`` label per copy, so every
sample is its own series, as when scraping a large fleet. Rates are samples/second
on one core; "cold" is the first parse (empty label cache), "warm" the steady state
of a target scraped again and again.

    .venv/bin/python benchmarks/bench_ingest.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from triaged.sources.exposition import ExpositionParser
from triaged.tsdb.storage import Storage

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "bharatmart" / "metrics-normal.txt"


def inflate(text: str, samples: int) -> str:
    """Copies of the fixture's sample lines, each copy with its own instance label."""
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    out: list[str] = []
    copy = 0
    while len(out) < samples:
        for line in lines:
            brace = line.index("{")
            out.append(f'{line[: brace + 1]}instance="pod-{copy}",{line[brace + 1 :]}')
        copy += 1
    return "\n".join(out[:samples]) + "\n"


def rate(samples: int, runs: int, work: Callable[[], object]) -> float:
    """Median samples/second over ``runs`` timed calls."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return samples / statistics.median(timings)


def bench(payload: str, samples: int, runs: int) -> dict[str, float]:
    results: dict[str, float] = {}
    cold_parsers = [ExpositionParser() for _ in range(runs)]
    results["triaged parser, cold cache"] = rate(samples, runs, lambda: cold_parsers.pop().parse(payload))
    parser = ExpositionParser()
    parser.parse(payload)
    results["triaged parser, warm cache"] = rate(samples, runs, lambda: parser.parse(payload))

    storage = Storage()
    clock = iter(range(1_800_000_000_000, 1_900_000_000_000, 1000))

    def scrape_and_store() -> None:
        storage.append_batch("bench", parser.parse(payload), next(clock))

    scrape_and_store()  # series creation is a one-off; measure the steady state
    results["parse + Storage.append_batch"] = rate(samples, runs, scrape_and_store)

    def prometheus_client_parse() -> None:
        for family in text_string_to_metric_families(payload):
            for _ in family.samples:
                pass

    results["prometheus_client parser"] = rate(samples, max(1, runs // 3), prometheus_client_parse)
    return results


def main() -> None:
    if not FIXTURE.is_file():
        raise SystemExit(f"fixture missing: {FIXTURE}")
    text = FIXTURE.read_text()
    sizes = {10_000: 9, 100_000: 3}
    table = {n: bench(inflate(text, n), n, runs) for n, runs in sizes.items()}
    rows = list(next(iter(table.values())))
    print(f"{'samples/s (median)':34}" + "".join(f"{n:>14,}" for n in sizes))
    for row in rows:
        print(f"{row:34}" + "".join(f"{table[n][row]:>14,.0f}" for n in sizes))


if __name__ == "__main__":
    main()
