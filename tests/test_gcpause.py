"""The shared GC pause: nested and overlapping pauses from several threads must leave
the collector exactly as they found it (on stays on, off stays off)."""

from __future__ import annotations

import gc
import threading

from triaged.gcpause import gc_paused


def test_collector_stays_paused_until_the_last_thread_leaves() -> None:
    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:  # pauses first, leaves while the second is still inside
        with gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first has left; this one is still parsing

    threads = [threading.Thread(target=second), threading.Thread(target=first)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_pause_nests_and_respects_a_collector_that_was_off() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
