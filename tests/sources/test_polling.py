"""The cycle's polls: a hung target holds up the others' rules once, not every time."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from triaged.polling import Polled, Poller
from triaged.simulator import Simulator
from triaged.sources.scrape import Scraper, ScrapeTarget

Start = Callable[[Callable[[socket.socket], None]], str]
Read = Callable[[socket.socket], None]


def polled(poller: Poller, now: float) -> list[Polled]:
    got: list[Polled] = []
    poller.poll(now, got.append)
    return got


def test_a_target_that_hangs_is_waited_for_once_then_not_until_it_answers_in_time(
    raw_server: Start, read_request: Read
) -> None:
    answering = {"now": False}

    def sometimes(sock: socket.socket) -> None:
        read_request(sock)
        if not answering["now"]:
            time.sleep(2)
            return
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nup2 1\n")

    with Simulator(seed=1) as sim:
        hung = Scraper(ScrapeTarget(job="hung", url=raw_server(sometimes), interval=1.0, timeout=0.6))
        good = Scraper(ScrapeTarget(job="good", url=f"{sim.url}/metrics", interval=1.0, timeout=0.6))
        poller = Poller([hung, good])
        try:
            started = time.monotonic()
            first = {p.source.key: p.collected for p in polled(poller, 1000.0)}
            assert 0.5 < time.monotonic() - started < 1.2  # waited once: the hung one's timeout
            assert first[hung.key].error == "timeout after 0.6s" and good.key in first
            assert poller.slow == {hung.key}

            started = time.monotonic()
            second = {p.source.key for p in polled(poller, 1001.0)}
            assert time.monotonic() - started < 0.4  # not waited for again
            assert second == {good.key}
            time.sleep(0.7)
            third = {p.source.key: p.collected for p in polled(poller, 1002.0)}
            assert third[hung.key].error == "timeout after 0.6s"  # its failure is still stored

            answering["now"] = True
            for t in range(1003, 1012):
                polled(poller, float(t))
                if hung.key not in poller.slow:
                    break
                time.sleep(0.3)
            assert poller.slow == set()  # answered in time: waited for again
        finally:
            poller.close()
