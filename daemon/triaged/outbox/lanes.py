"""A thread of its own for each receiver's sends, so a receiver that hangs delays only
its own pages: while ONS takes its whole 35 s timeout, a new P0 still reaches the
webhook at once.

A lane is a receiver's queue of rounds. Kicking a lane that is idle starts a round on
a thread of its own; kicking one that is busy asks for one more round after the
current, so a row recorded mid-round is sent without waiting for the next timer. At
most one thread per receiver runs, and it ends when its lane goes idle. The threads
are daemon threads: a send still in flight when the process exits is abandoned (its
row, still claimed, goes out again after the restart) instead of holding up the exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from triaged.errors import describe

log = structlog.get_logger("triaged.outbox")


class Lanes:
    def __init__(self, run: Callable[[str], object]) -> None:
        self._run = run  # one round for a receiver; must not raise (the runner guards it)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._closed = False

    def kick(self, receiver: str) -> None:
        """A round for ``receiver`` now, or right after the one it is in."""
        with self._lock:
            if self._closed:
                return
            if receiver in self._busy:
                self._again.add(receiver)
                return
            self._busy.add(receiver)
        thread = threading.Thread(
            target=self._lane, args=(receiver,), name=f"dispatch:{receiver}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (TasksMax): the next kick tries again
            with self._lock:
                self._busy.discard(receiver)
                self._idle.notify_all()
            raise

    def busy(self) -> set[str]:
        with self._lock:
            return set(self._busy)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no lane has a round running or asked for; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, wait_s: float) -> bool:
        """Take no more kicks; let the rounds in flight end, at most ``wait_s``. Returns
        False if a lane is still sending then (its send has a deadline of its own)."""
        with self._lock:
            self._closed = True
            self._again.clear()
        return self.wait_idle(wait_s)

    def _lane(self, receiver: str) -> None:
        again = True
        while again:
            try:
                self._run(receiver)
            except Exception as exc:  # `run` guards itself; this only keeps the books right
                log.error("dispatch_round_failed", receiver=receiver, error=describe(exc))
            with self._lock:
                again = receiver in self._again and not self._closed
                self._again.discard(receiver)
                if not again:
                    self._busy.discard(receiver)
                    self._idle.notify_all()
