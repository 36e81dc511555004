"""Each receiver's lane: a kick while a round runs brings exactly one more round, a
round that raises leaves the lane usable, and closing waits for the rounds in flight
(up to a bound) and takes no more kicks."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from triaged.outbox.lanes import Lanes


class Rounds:
    """Counts rounds per receiver; a receiver's rounds block while its gate is shut."""

    def __init__(self) -> None:
        self.done: Counter[str] = Counter()
        self.started = {r: threading.Event() for r in ("a", "b")}
        self.gates = {r: threading.Event() for r in ("a", "b")}
        self.fail = False

    def run(self, receiver: str) -> None:
        self.started[receiver].set()
        assert self.gates[receiver].wait(10), "test never opened the gate"
        if self.fail:
            raise RuntimeError("boom")
        self.done[receiver] += 1


def test_kicks_during_a_round_bring_one_more_round_and_other_lanes_run_meanwhile() -> None:
    rounds = Rounds()
    lanes = Lanes(rounds.run)
    lanes.kick("a")
    assert rounds.started["a"].wait(10)
    for _ in range(3):  # three wakes while `a` is stuck: one more round, not three
        lanes.kick("a")
    rounds.gates["b"].set()
    lanes.kick("b")
    assert rounds.started["b"].wait(10)
    assert not lanes.wait_idle(0.2)  # `a` is still stuck
    assert lanes.busy() == {"a"}
    rounds.gates["a"].set()
    assert lanes.wait_idle(10)
    assert rounds.done == {"a": 2, "b": 1}
    assert lanes.close(1)


def test_a_round_that_raises_leaves_the_lane_usable() -> None:
    rounds = Rounds()
    rounds.gates["a"].set()
    rounds.fail = True
    lanes = Lanes(rounds.run)
    lanes.kick("a")
    assert lanes.wait_idle(10)
    rounds.fail = False
    lanes.kick("a")
    assert lanes.wait_idle(10)
    assert rounds.done == {"a": 1}
    lanes.close(1)


def test_close_waits_for_the_round_in_flight_up_to_its_bound_and_takes_no_more_kicks() -> None:
    rounds = Rounds()
    lanes = Lanes(rounds.run)
    lanes.kick("a")
    assert rounds.started["a"].wait(10)
    lanes.kick("a")  # asked for after the close: dropped
    assert lanes.close(0.1) is False  # still stuck: close gives up at its bound
    lanes.kick("b")
    rounds.gates["a"].set()
    assert lanes.wait_idle(10)
    assert rounds.done == {"a": 1}
    assert not rounds.started["b"].is_set()


def test_a_lane_whose_thread_cannot_start_is_not_left_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No thread to be had (systemd's TasksMax reached): the kick fails, and the next
    one, once threads are back, starts a round instead of finding the lane 'busy'."""
    rounds = Rounds()
    rounds.gates["a"].set()
    lanes = Lanes(rounds.run)
    real_start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError):
        lanes.kick("a")
    assert lanes.busy() == set()
    monkeypatch.setattr(threading.Thread, "start", real_start)
    lanes.kick("a")
    assert lanes.wait_idle(10) and rounds.done == {"a": 1}
