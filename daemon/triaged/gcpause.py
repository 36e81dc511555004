"""Holding off Python's cyclic garbage collector around allocation-heavy work.

Parsing a scrape and evaluating a query each allocate one small tuple per series and
create no reference cycles; the collections those allocations trigger walk the whole
heap (the tsdb included) and halve both rates in measurements. The pause nests and is
shared by threads (scrapes parse in a pool while the API may run a query): the
collector comes back on when the last pauser finishes, not while another thread is
still mid-parse, and only if it was on when the first one started.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_restore = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _restore  # noqa: PLW0603 - one process-wide pause is the point
    with _lock:
        if _depth == 0:
            _restore = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                gc.enable()
