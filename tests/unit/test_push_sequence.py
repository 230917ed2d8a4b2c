"""The per-user numbering of fan-out events that lets a socket notice a dropped push (no services needed)."""

import pytest

from messaging.push_sequence import PushSequence

pytestmark = pytest.mark.unit


def test_events_in_order_or_out_of_order_are_no_gap():
    seq = PushSequence(current=10)
    assert seq.check(10) is False
    for n in (12, 11, 13):
        seq.saw(n)
    assert seq.check(13) is False
    assert seq.check(13) is False


def test_an_event_in_flight_gets_one_heartbeat_of_grace():
    seq = PushSequence(current=0)
    seq.check(0)
    seq.saw(1)
    assert seq.check(2) is False  # number 2 may still be on its way
    seq.saw(2)
    assert seq.check(2) is False


def test_a_number_that_never_arrives_is_a_gap_reported_once():
    seq = PushSequence(current=0)
    seq.check(0)
    seq.saw(1)
    seq.saw(3)
    assert seq.check(3) is False
    assert seq.check(3) is True  # 2 never came
    assert seq.check(3) is False
    seq.saw(4)
    assert seq.check(4) is False


def test_events_from_before_the_socket_do_not_count():
    seq = PushSequence(current=50)
    seq.saw(49)
    seq.check(50)
    assert seq.check(50) is False


def test_a_counter_that_restarted_with_redis_starts_over():
    seq = PushSequence(current=40)
    seq.check(40)
    assert seq.check(0) is False
    seq.saw(1)
    assert seq.check(1) is False
    assert seq.check(1) is False
