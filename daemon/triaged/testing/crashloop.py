"""Crash-test driver: the real daemon cycle on a persisted fake clock, killable anywhere.

    python -m triaged.testing.crashloop --config CFG --clock FILE --until T

Each run reads the logical time from ``--clock`` (starting at ``--start`` when the file
is missing), builds the daemon from ``--config`` exactly as ``triaged run`` does,
and runs ``Daemon.cycle(t)`` for t, t+step, … up to ``--until``, saving the clock after
every cycle. A test kills it with SIGKILL at random points and starts it again; the
SQLite file and the receiver's log must then show no duplicate incident, no lost
notification and at most one re-send per kill.

The only source is :class:`ScheduleSource`: a service that is broken for ``on``
seconds at the start of every ``period`` (a pure function of the logical time), so
a restarted run sees exactly what the killed one would have seen.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from triaged import log
from triaged.app import build
from triaged.config import load_config
from triaged.model import Labels
from triaged.sources.base import Collected

Samples = Callable[[float], Iterable[tuple[Labels, float]]]


class ScriptedSource:
    """A source whose samples are a function of ``now``: no network, fully repeatable."""

    def __init__(self, key: str, interval: float, samples: Samples) -> None:
        self._key = key
        self._interval = interval
        self.samples = samples

    @property
    def key(self) -> str:
        return self._key

    @property
    def interval(self) -> float:
        return self._interval

    def collect(self, now: float) -> Collected:
        return Collected(t_ms=int(now * 1000), samples=list(self.samples(now)))


def schedule_samples(start: float, period: float, on: float, service: str = "checkout") -> Samples:
    """``svc_broken{service=…}`` is 1 for the first ``on`` seconds of each period, else 0."""
    labels = Labels.of(__name__="svc_broken", service=service)

    def samples(now: float) -> list[tuple[Labels, float]]:
        phase = (now - start) % period
        return [(labels, 1.0 if now >= start and phase < on else 0.0)]

    return samples


def read_clock(path: Path, default: float) -> float:
    try:
        return float(path.read_text())
    except (OSError, ValueError):
        return default


def write_clock(path: Path, t: float) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(repr(t))
    os.replace(tmp, path)  # atomic: a kill leaves the old or the new time, never half


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="crashloop")
    p.add_argument("--config", required=True)
    p.add_argument("--clock", required=True, type=Path)
    p.add_argument("--start", type=float, default=1_700_000_000.0)
    p.add_argument("--until", type=float, required=True)
    p.add_argument("--step", type=float, default=1.0)
    p.add_argument("--period", type=float, default=12.0)
    p.add_argument("--on", type=float, default=5.0)
    args = p.parse_args(argv)

    log.configure("critical", "json")
    source = ScriptedSource(
        "scripted/checkout", args.step, schedule_samples(args.start, args.period, args.on)
    )
    daemon = build(load_config(args.config), sources=[source])
    t = read_clock(args.clock, args.start)
    print(f"ready {t}", flush=True)
    while t <= args.until:
        daemon.cycle(t)
        t += args.step
        write_clock(args.clock, t)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
