"""The frame-wait bound refuses a standing queue, not a burst (messaging/admission.StandingQueue)."""

import pytest

from messaging.admission import StandingQueue

pytestmark = pytest.mark.unit

TARGET, INTERVAL = 100, 500


def run(waits: list[tuple[float, float]]) -> list[bool]:
    """(seconds, wait in ms) of each frame, in order: whether each was refused."""
    queue = StandingQueue()
    return [queue.standing(wait, TARGET, INTERVAL, at) for at, wait in waits]


def test_waits_under_the_target_are_never_refused():
    assert run([(t / 10, 99) for t in range(100)]) == [False] * 100


def test_a_burst_that_clears_within_the_interval_is_not_refused():
    burst = [(0.01 * i, 150 + i) for i in range(40)]  # 0.4 s above the target
    assert run([*burst, (0.45, 20), (0.5, 300), (0.9, 300)]) == [False] * 43


def test_waits_above_the_target_for_the_whole_interval_are_refused():
    waits = [(0.1 * i, 250) for i in range(8)]  # 0.0 .. 0.7 s, all above
    assert run(waits) == [False] * 5 + [True] * 3


def test_once_it_stood_each_long_wait_is_refused_and_each_short_one_taken():
    """In control a short wait does not reopen the gate for a whole interval:
    the next long wait is refused at once (the first version took waves of them)."""
    stood = [(0.1 * i, 250) for i in range(6)]  # refused from 0.5 s
    after = [(0.6, 40), (0.65, 250), (0.7, 90), (0.8, 300), (0.9, 20)]
    assert run([*stood, *after]) == [False] * 5 + [True] + [False, True, False, True, False]


def test_control_ends_after_a_whole_interval_without_a_long_wait():
    stood = [(0.1 * i, 250) for i in range(6)]  # in control from 0.5 s
    quiet = [(0.6 + 0.1 * i, 50) for i in range(5)]  # 0.6 .. 1.0 s, all short
    # 1.0 s is a whole interval after the last long wait (0.5 s): a long wait is a burst again.
    assert run([*stood, *quiet, (1.05, 250), (1.2, 250)]) == [False] * 5 + [True] + [False] * 5 + [False, False]


def test_a_wait_just_under_the_target_breaks_the_standing_queue():
    waits = [(0.0, 101), (0.3, 101), (0.49, 100), (0.6, 101), (1.0, 101), (1.2, 101)]
    assert run(waits) == [False, False, False, False, False, True]
