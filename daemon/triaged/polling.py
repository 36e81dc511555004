"""Which sources are due, polled in parallel, and the results a cycle may store.

A cycle waits for each poll it starts at most that source's ``cycle_wait`` seconds
(see :func:`cycle_wait`): a scrape for its timeout, so rules evaluated in the same
cycle see it; an OCI call only briefly, as its data is minutes late anyway and a
call that hangs for its 30 s read timeout must not hold up rules over scrapes. A
poll still running then is stored by the first cycle after it finishes, and its
source is not polled again before that: never two polls of one source at once.

A source whose poll ran into its timeout (or overran its wait) is *slow*: later
cycles do not wait for it at all until one of its polls comes back in time again. A
target that hangs therefore delays the other targets' rules once, not at every one
of its scrapes; its failures are still stored, a cycle or so later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass

from triaged.errors import describe
from triaged.sources.base import Collected, Source

# Grace beyond a source's own timeout: the answer still has to be parsed.
_MARGIN_S = 1.0


def cycle_wait(source: Source) -> float:
    """Seconds a cycle waits for this source's poll: its ``cycle_wait`` attribute if it
    has one, else its ``timeout`` plus a margin, else one interval."""
    explicit = getattr(source, "cycle_wait", None)
    if isinstance(explicit, int | float):
        return float(explicit)
    timeout = getattr(source, "timeout", None)
    if isinstance(timeout, int | float):
        return float(timeout) + _MARGIN_S
    return source.interval


def _in_time(source: Source) -> float:
    """A poll that took this long or more ran into its timeout: the source is slow."""
    timeout = getattr(source, "timeout", None)
    return float(timeout) if isinstance(timeout, int | float) else cycle_wait(source)


@dataclass(frozen=True)
class Polled:
    source: Source
    collected: Collected
    took: float  # seconds the poll ran


class Poller:
    def __init__(self, sources: list[Source], max_workers: int = 16) -> None:
        self.sources = sources
        # Threads start as polls need them, so a reload that adds targets finds room.
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="source")
        self._next_due: dict[str, float] = {}
        self._running: dict[str, tuple[Source, float, Future[tuple[Collected, float]]]] = {}
        self.slow: set[str] = set()  # keys of sources a cycle does not wait for

    def poll(self, now: float, take: Callable[[Polled], None]) -> None:
        """Start the polls due at ``now`` and hand every poll that has finished to
        ``take``: those of earlier cycles first, then this cycle's, each as soon as it
        is in (waiting as :func:`cycle_wait` allows). So one scrape is stored while the
        others are still being fetched and parsed, instead of all held at once (which
        cost ~50 B of RSS per series at 200k series)."""
        started = time.monotonic()  # a wall-clock bound on real threads, not schedule time
        due = [
            s
            for s in self.sources
            if s.key not in self._running and now >= self._next_due.get(s.key, 0.0) - 0.05
        ]
        self._take_finished(take)
        for source in due:
            self._running[source.key] = (source, now, self._pool.submit(_timed, source, now))
            self._next_due[source.key] = now + source.interval
        for source in due:
            future = self._running[source.key][2]
            if source.key not in self.slow:
                wait_for([future], timeout=max(0.0, started + cycle_wait(source) - time.monotonic()))
            if future.done():
                take(self._finish(source.key))
            else:
                self.slow.add(source.key)
        self._take_finished(take)  # slow ones that came in meanwhile

    def replace(self, sources: list[Source]) -> None:
        """Poll ``sources`` from now on (a reload). A kept source keeps its schedule; a
        new one is due at once. A poll still running for a source that is gone or was
        rebuilt is let finish and dropped: its answer is of a target that no longer is."""
        current = {id(s) for s in sources}
        for key, (source, _, _) in list(self._running.items()):
            if id(source) not in current:
                del self._running[key]
        keys = {s.key for s in sources}
        self._next_due = {k: due for k, due in self._next_due.items() if k in keys}
        self.slow &= keys
        self.sources = sources

    def _take_finished(self, take: Callable[[Polled], None]) -> None:
        for key in [key for key, (_, _, f) in self._running.items() if f.done()]:
            take(self._finish(key))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, key: str) -> Polled:
        source, polled_at, future = self._running.pop(key)
        try:
            collected, took = future.result()
        # Sources never raise by contract; one that does must not stop the cycle.
        except Exception as exc:
            collected, took = Collected(int(polled_at * 1000), error=describe(exc)), 0.0
        if took < _in_time(source):
            self.slow.discard(key)
        else:
            self.slow.add(key)
        if collected.retry_in is not None:
            # Skipped by our own rate limiting: try again soon, not a whole interval later.
            self._next_due[key] = polled_at + collected.retry_in
        return Polled(source, collected, took)


def _timed(source: Source, now: float) -> tuple[Collected, float]:
    started = time.perf_counter()
    collected = source.collect(now)
    return collected, time.perf_counter() - started
