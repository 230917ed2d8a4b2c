"""The fast layer: rules that need neither the database nor Redis (marked ``unit``; `make test` runs it first)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat_project.common.checks import check_id
from chat_project.common.errors import InvalidInput
from chat_project.common.limits import MAX_CONTENT_CODE_POINTS
from chat_project.common.limits import MAX_ID as MAX_MESSAGE_ID
from chat_project.env import parse_rate
from messaging.content_filter import WordMatcher
from messaging.ids import ID_EPOCH_MS, MAX_ID, TIME_SHIFT, id_floor_for_time, id_time_seconds
from messaging.validation import check_content

pytestmark = pytest.mark.unit


def test_the_word_matcher_masks_and_rejects_ignoring_case():
    matcher = WordMatcher([("darn", False), ("forbidden", True), ("an", False)])
    assert matcher.apply("Darn it") == ("**** it", False)
    assert matcher.apply("a banana") == ("a b****a", False)
    assert matcher.apply("this is FORBIDDEN here") == ("this is FORBIDDEN here", True)
    assert matcher.apply("hello 👋") == ("hello 👋", False)


def test_overlapping_words_are_all_masked():
    matcher = WordMatcher([("abc", False), ("bcd", False)])
    assert matcher.apply("xabcdx") == ("x****x", False)


def test_ids_carry_their_time_and_stay_below_2_53():
    assert MAX_ID < 2**53 and MAX_MESSAGE_ID == 2**53 - 1
    floor = id_floor_for_time(ID_EPOCH_MS / 1000 + 12.345)
    assert floor == 12345 << TIME_SHIFT
    assert id_time_seconds(floor) == pytest.approx(ID_EPOCH_MS / 1000 + 12.345)


@pytest.mark.parametrize(
    "raw, expected", [("30/10s", (30, 10)), ("20/min", (20, 60)), ("10/h", (10, 3600)), ("5/2m", (5, 120))]
)
def test_rates_parse(raw, expected):
    assert parse_rate("X", raw) == expected


@pytest.mark.parametrize("raw", ["", "30", "x/10s", "30/10y", "0/s", "-1/min"])
def test_bad_rates_are_refused_at_start_up(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_rate("X", raw)


@pytest.mark.parametrize(
    "content", ["", "   \n\t", "\x00", "a\ud800b", "x" * (MAX_CONTENT_CODE_POINTS + 1), 7, None, ["hi"]]
)
def test_content_that_is_refused(content):
    with pytest.raises(InvalidInput) as refused:
        check_content(content)
    assert "content" in refused.value.errors


def test_content_is_kept_exactly():
    for content in ("hi 👋", " padded ", "x" * MAX_CONTENT_CODE_POINTS, "line\nbreak", "a\u2028b"):
        assert check_content(content) == content


@pytest.mark.parametrize("value", [True, 1.0, "7", -1, 2**53, 2**63])
def test_ids_that_are_refused(value):
    with pytest.raises(InvalidInput):
        check_id("to", value)
