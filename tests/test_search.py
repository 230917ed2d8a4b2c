"""PROTOCOL.md 1.2 search: every word of q in the current content of the user's own messages, newest first."""

import pytest

from .helpers import assert_error, avoid_window_edge, recall


def found(user, q, **params) -> list[str]:
    response = user.get("search", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [m["content"] for m in response.json()["results"]]


@pytest.fixture
def texts(alice, bob, carol):
    return [
        alice.send(bob, "Lunch at noon?"),
        bob.send(alice, "lunch is good, NOON works"),
        carol.send(alice, "dinner at eight"),
        alice.send(carol, "我们明天去北京吃饭"),
        bob.send(carol, "lunch without alice"),
    ]


def test_every_word_case_insensitively_newest_first(alice, texts):
    assert found(alice, "lunch") == ["lunch is good, NOON works", "Lunch at noon?"]
    assert found(alice, "NOON lunch") == ["lunch is good, NOON works", "Lunch at noon?"]
    assert found(alice, "lunch dinner") == []
    assert found(alice, "at") == ["dinner at eight", "Lunch at noon?"]


def test_text_without_spaces_matches_a_substring(alice, carol, texts):
    assert found(alice, "北京") == ["我们明天去北京吃饭"]
    assert found(carol, "明天 吃饭") == ["我们明天去北京吃饭"]


def test_only_the_users_own_conversations(alice, carol, texts):
    assert "lunch without alice" not in found(alice, "lunch")
    assert found(carol, "lunch") == ["lunch without alice"]


def test_recalled_never_match_and_edited_match_their_new_content(alice, texts):
    recall(alice, texts[0])
    assert found(alice, "lunch") == ["lunch is good, NOON works"]
    assert alice.patch(f"messages/{texts[3]['msg_id']}", {"content": "tomorrow Shanghai"}).status_code == 200
    assert found(alice, "北京") == []
    assert found(alice, "shanghai") == ["tomorrow Shanghai"]


def test_one_conversation_and_paging_with_before(alice, bob, texts):
    conversation = texts[0]["conversation_id"]
    assert found(alice, "at", conversation_id=conversation) == ["Lunch at noon?"]
    page = alice.get("search", {"q": "n", "limit": 2}).json()
    seen = [m["msg_id"] for m in page["results"]]
    while page["next_before"] is not None:
        page = alice.get("search", {"q": "n", "limit": 2, "before": page["next_before"]}).json()
        seen += [m["msg_id"] for m in page["results"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 3
    assert_error(alice.get("search", {"q": "a", "conversation_id": 999999999}), 404, "not_found")


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 101}, {"q": "a", "before": "x"}])
def test_bad_queries(alice, params):
    assert_error(alice.get("search", params), 400, "validation_error")


def test_search_is_rate_limited(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_SEARCH_RATE = (2, 60)
    avoid_window_edge(60)
    assert alice.get("search", {"q": "x"}).status_code == 200
    assert alice.get("search", {"q": "x"}).status_code == 200
    assert_error(alice.get("search", {"q": "x"}), 429, "rate_limited")
