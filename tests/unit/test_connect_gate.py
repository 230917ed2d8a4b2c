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


class Port:
    """A listening port as Twisted's looks to the gate: accepting (reading) or not."""

    def __init__(self) -> None:
        self.connected = True
        self.reading = True

    def stopReading(self) -> None:  # noqa: N802 - Twisted's names
        self.reading = False

    def startReading(self) -> None:  # noqa: N802
        self.reading = True


class Later:
    """The event loop's call_later, run by hand."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object]] = []

    def __call__(self, delay: float, func) -> None:
        self.calls.append((delay, func))

    def run_all(self) -> None:
        calls, self.calls = self.calls, []
        for _, func in calls:
            func()


def gate_with_port(clock: Clock) -> tuple[ConnectGate, Port, Later]:
    later = Later()
    gate = ConnectGate(clock, later)
    port = Port()
    gate.add_port(port)
    return gate, port, later


def test_the_port_stops_accepting_at_the_opening_bound_and_accepts_again_at_half_of_it():
    clock = Clock()
    gate, port, _ = gate_with_port(clock)
    openings = [gate.enter(BOUND_MS, 4) for _ in range(3)]
    assert port.reading
    openings.append(gate.enter(BOUND_MS, 4))
    assert not port.reading  # four opening: the next connections wait in the kernel's queue

    openings[0].done()
    assert not port.reading  # three opening: still above half
    openings[1].done()
    assert port.reading  # two: accepting again
    assert all(openings)


def test_a_paused_port_accepts_again_once_the_oldest_opening_is_stuck_so_that_1013_answers_at_once():
    clock = Clock()
    gate, port, later = gate_with_port(clock)
    for _ in range(4):
        gate.enter(BOUND_MS, 4)
    assert not port.reading
    assert len(later.calls) == 1 and later.calls[0][0] == pytest.approx(3.01)

    clock.now += 1
    later.run_all()  # early: not stuck yet, so it stays paused and looks again later
    assert not port.reading and len(later.calls) == 1

    clock.now += 2.5  # the oldest has now waited 3.5 s: opening is stuck, not slow
    later.run_all()
    assert port.reading
    assert gate.enter(BOUND_MS, 4) is None  # refused with 1013, not left waiting


def test_a_port_that_stopped_listening_is_left_alone():
    clock = Clock()
    gate, port, _ = gate_with_port(clock)
    openings = [gate.enter(BOUND_MS, 2) for _ in range(2)]
    assert not port.reading
    port.connected = False  # the process is shutting down
    for opening in openings:
        assert opening is not None
        opening.done()
    assert not port.reading


def test_an_opening_bound_of_zero_never_pauses():
    clock = Clock()
    gate, port, _ = gate_with_port(clock)
    for _ in range(1000):
        gate.enter(BOUND_MS, 0)
    assert port.reading
