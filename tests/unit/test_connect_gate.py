"""A process refuses new sockets only once those it is opening stand in a queue (common/connect_gate.py)."""

import pytest

from chat_project.common.connect_gate import ConnectGate

pytestmark = pytest.mark.unit

BOUND_MS = 3000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_opened_within_the_bound_is_never_refused():
    clock = Clock()
    gate = ConnectGate(clock)
    openings = [gate.enter(BOUND_MS) for _ in range(5000)]  # all at once
    clock.now += 2.9
    assert gate.enter(BOUND_MS) is not None
    assert all(openings)


def test_sockets_are_refused_while_the_oldest_opening_waited_past_the_bound_and_admitted_once_it_is_done():
    clock = Clock()
    gate = ConnectGate(clock)
    oldest = gate.enter(BOUND_MS)
    clock.now += 1
    younger = gate.enter(BOUND_MS)
    clock.now += 2.5  # the oldest has waited 3.5 s, the younger 2.5 s
    assert gate.enter(BOUND_MS) is None

    assert oldest is not None and younger is not None
    oldest.done()
    oldest.done()  # the consumer's ``ready`` and the end of the socket both call it
    assert gate.enter(BOUND_MS) is not None
    assert len(gate.opening) == 2


def test_a_bound_of_zero_never_refuses():
    clock = Clock()
    gate = ConnectGate(clock)
    gate.enter(0)
    clock.now += 3600
    assert gate.enter(0) is not None


def test_at_most_max_opening_sockets_open_at_once_and_the_next_is_admitted_when_one_is_done():
    clock = Clock()
    gate = ConnectGate(clock)
    openings = [gate.enter(BOUND_MS, 3) for _ in range(3)]
    assert all(openings)
    assert gate.enter(BOUND_MS, 3) is None  # young, but as many as the bound
    assert gate.behind(BOUND_MS, 3) and not gate.behind(BOUND_MS)
    openings[1].done()
    assert gate.enter(BOUND_MS, 3) is not None
    assert gate.enter(BOUND_MS, 0) is not None  # 0: no bound on the count
