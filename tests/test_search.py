"""PROTOCOL.md 1.2 search: every word of q in the current content of the user's own messages, newest first.

Each behaviour runs twice: with the messages still in flight (their fan-out
not run: search reads their rows) and once the fan-out indexed them (search
walks the gram index, messaging/search_index.py).
"""

import itertools
import string
import unicodedata
from collections import defaultdict

import pytest
from django.db import connection

from messaging import fanout, search, search_index
from messaging.models import MessageRecord, SearchGram

from .helpers import assert_error, avoid_window_edge, recall


def found(user, q, **params) -> list[str]:
    response = user.get("search", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [m["content"] for m in response.json()["results"]]


def run_fan_out() -> None:
    """What the realtime worker does for every message not done yet: push, index, mark done."""
    pending = list(MessageRecord.objects.filter(fan_out_done=False).values_list("msg_id", flat=True))
    if pending:
        fanout.fan_out_batch(pending)


@pytest.fixture(params=["in flight", "indexed"])
def settle(request):
    """Call after sending: runs the fan-out in the "indexed" run, leaves the messages in flight otherwise."""
    return run_fan_out if request.param == "indexed" else lambda: None


@pytest.fixture
def texts(alice, bob, carol, settle):
    sent = [
        alice.send(bob, "Lunch at noon?"),
        bob.send(alice, "lunch is good, NOON works"),
        carol.send(alice, "dinner at eight"),
        alice.send(carol, "我们明天去北京吃饭"),
        bob.send(carol, "lunch without alice"),
    ]
    settle()
    return sent


def test_every_word_case_insensitively_newest_first(alice, texts):
    assert found(alice, "lunch") == ["lunch is good, NOON works", "Lunch at noon?"]
    assert found(alice, "NOON lunch") == ["lunch is good, NOON works", "Lunch at noon?"]
    assert found(alice, "lunch dinner") == []
    assert found(alice, "at") == ["dinner at eight", "Lunch at noon?"]


def test_text_without_spaces_matches_a_substring(alice, carol, texts):
    assert found(alice, "北京") == ["我们明天去北京吃饭"]
    assert found(carol, "明天 吃饭") == ["我们明天去北京吃饭"]
    assert found(alice, "京吃饭") == ["我们明天去北京吃饭"]
    assert found(alice, "京") == ["我们明天去北京吃饭"]
    assert found(alice, "京北") == []
    assert found(alice, "上海") == []


def test_japanese_and_korean_substrings(alice, bob, settle):
    alice.send(bob, "東京タワーに行きました")
    alice.send(bob, "한국어를 공부해요")
    settle()
    assert found(bob, "タワー") == ["東京タワーに行きました"]
    assert found(bob, "京タ") == ["東京タワーに行きました"]
    assert found(bob, "국어") == ["한국어를 공부해요"]
    assert found(bob, "공") == ["한국어를 공부해요"]


def test_words_inside_longer_words_and_short_words(alice, bob, settle):
    alice.send(bob, "Pizza tonight")
    alice.send(bob, "a sandwich")
    alice.send(bob, "ok")
    settle()
    assert found(bob, "unch") == []
    assert found(bob, "andwi") == ["a sandwich"]
    assert found(bob, "izz") == ["Pizza tonight"]
    # One character: anywhere in a word, its last character included, and alone.
    assert found(bob, "a") == ["a sandwich", "Pizza tonight"]
    assert found(bob, "k") == ["ok"]
    assert found(bob, "Z") == ["Pizza tonight"]
    assert found(bob, "ok") == ["ok"]
    assert found(bob, "a ok") == []
    assert found(bob, "h a") == ["a sandwich", "Pizza tonight"]
    assert found(bob, "q") == []


def test_one_character_walks_and_sorts_alike(alice, bob, settle, monkeypatch):
    for text in ("apple", "banana", "cab", "xyz", "Ava"):
        alice.send(bob, text)
    settle()
    walked = found(bob, "a")
    monkeypatch.setattr(search, "MAX_BRANCHES", 1)  # "a" is followed by "p", "n", "b", "v" and nothing
    assert found(bob, "a") == walked == ["Ava", "cab", "banana", "apple"]


def test_accents_and_case_fold_as_the_collation_does(alice, bob, settle):
    alice.send(bob, "Café at the CRÈME brûlée place")
    settle()
    assert found(bob, "cafe") == ["Café at the CRÈME brûlée place"]
    assert found(bob, "CAFÉ créme BRULEE") == ["Café at the CRÈME brûlée place"]
    assert found(bob, "é") == ["Café at the CRÈME brûlée place"]


def test_like_wildcards_and_quotes_are_plain_characters(alice, bob, settle):
    alice.send(bob, "50% off")
    alice.send(bob, "500 off")
    alice.send(bob, "snake_case")
    alice.send(bob, "snakeXcase")
    alice.send(bob, r"a\b")
    alice.send(bob, 'it\'s "quoted"')
    settle()
    assert found(bob, "'s") == ['it\'s "quoted"']
    assert found(bob, '"q') == ['it\'s "quoted"']
    assert found(bob, "50%") == ["50% off"]
    assert found(bob, "%") == ["50% off"]
    assert found(bob, "e_c") == ["snake_case"]
    assert found(bob, "_") == ["snake_case"]
    assert found(bob, "\\") == [r"a\b"]


def test_only_the_users_own_conversations(alice, bob, carol, texts):
    assert "lunch without alice" not in found(alice, "lunch")
    assert found(carol, "lunch") == ["lunch without alice"]
    assert found(carol, "noon") == []
    assert found(carol, "北京 明天") == ["我们明天去北京吃饭"]
    run_fan_out()
    alice_bob = {texts[0]["msg_id"], texts[1]["msg_id"]}
    owners = set(SearchGram.objects.filter(msg_id__in=alice_bob).values_list("user_id", flat=True))
    assert owners == {alice.id, bob.id}


def test_a_stranger_finds_nothing(make_user, texts):
    stranger = make_user("stranger")
    assert found(stranger, "lunch") == []
    assert found(stranger, "a") == []
    assert_error(
        stranger.get("search", {"q": "lunch", "conversation_id": texts[0]["conversation_id"]}), 404, "not_found"
    )


def test_recalled_never_match_and_edited_match_their_new_content(alice, texts):
    recall(alice, texts[0])
    assert found(alice, "lunch") == ["lunch is good, NOON works"]
    assert alice.patch(f"messages/{texts[3]['msg_id']}", {"content": "tomorrow Shanghai"}).status_code == 200
    assert found(alice, "北京") == []
    assert found(alice, "京") == []
    assert found(alice, "shanghai") == ["tomorrow Shanghai"]
    assert found(alice, "h") == ["tomorrow Shanghai", "dinner at eight", "lunch is good, NOON works"]


def test_recall_and_edit_keep_the_index_exact(alice, bob, carol):
    first = alice.send(bob, "lunch at noon")
    second = alice.send(carol, "dinner soon")
    run_fan_out()
    recall(alice, first)
    assert not SearchGram.objects.filter(msg_id=first["msg_id"]).exists()
    assert alice.patch(f"messages/{second['msg_id']}", {"content": "dinner late"}).status_code == 200
    grams = set(SearchGram.objects.filter(msg_id=second["msg_id"]).values_list("user_id", "gram"))
    assert grams == {(user, gram) for user in (alice.id, carol.id) for gram in search_index.grams_of("dinner late")}
    assert found(carol, "soon") == []
    assert found(carol, "late") == ["dinner late"]


def test_a_moderators_recall_takes_the_message_out_of_the_index(alice, bob):
    from messaging.recall import moderate_recall

    sent = alice.send(bob, "lunch at noon")
    run_fan_out()
    assert moderate_recall(sent["msg_id"])
    assert not SearchGram.objects.filter(msg_id=sent["msg_id"]).exists()
    assert found(bob, "lunch") == []


def test_long_queries_and_characters_beyond_the_basic_plane(alice, bob, settle):
    alice.send(bob, "pizza 🍕 tonight 我们明天去北京吃饭")
    settle()
    assert found(bob, "🍕") == ["pizza 🍕 tonight 我们明天去北京吃饭"]
    assert found(bob, "a🍕") == []
    assert found(bob, "我们明天去北京吃饭" * 11) == []
    assert found(bob, " ".join(["pizza"] * 16)) == ["pizza 🍕 tonight 我们明天去北京吃饭"]


def test_an_edit_before_the_fan_out_is_found_by_its_new_text(alice, bob):
    sent = alice.send(bob, "first words")
    assert alice.patch(f"messages/{sent['msg_id']}", {"content": "second thoughts"}).status_code == 200
    assert found(bob, "first") == []
    run_fan_out()
    assert found(bob, "first") == []
    assert found(bob, "thoughts") == ["second thoughts"]


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


def test_a_large_conversation_is_searched_through_the_index(alice, texts, monkeypatch):
    monkeypatch.setattr(search, "SMALL_CONVERSATION", 0)
    conversation = texts[0]["conversation_id"]
    assert found(alice, "at", conversation_id=conversation) == ["Lunch at noon?"]
    assert found(alice, "noon", conversation_id=conversation) == ["lunch is good, NOON works", "Lunch at noon?"]
    assert found(alice, "dinner", conversation_id=conversation) == []
    assert found(alice, "n", conversation_id=conversation, limit=1) == ["lunch is good, NOON works"]


def test_paging_across_indexed_and_in_flight_messages(alice, bob):
    sent = [alice.send(bob, f"report {n}")["msg_id"] for n in range(3)]
    run_fan_out()
    sent += [bob.send(alice, f"report {n}")["msg_id"] for n in range(3, 6)]
    for q in ("report", "rep", "r"):
        page = alice.get("search", {"q": q, "limit": 2}).json()
        seen = [m["msg_id"] for m in page["results"]]
        while page["next_before"] is not None:
            page = alice.get("search", {"q": q, "limit": 2, "before": page["next_before"]}).json()
            seen += [m["msg_id"] for m in page["results"]]
        assert seen == sorted(sent, reverse=True), q


def test_the_backfill_indexes_rows_written_before_the_index(alice, bob, texts):
    before = {q: found(alice, q) for q in ("lunch", "北京", "a", "noon at")}
    run_fan_out()
    SearchGram.objects.all().delete()
    assert found(alice, "lunch") == []  # done by the fan-out, so only the index could find them
    # Batches of 2 ids, the stage flushed into the index every 3 (and at the end).
    assert search_index.backfill_search_index(batch_rows=2, stage_messages=3) == 5
    assert search_index.backfill_search_index() == 5  # again: nothing changes
    assert {q: found(alice, q) for q in before} == before


def test_words_without_grams_are_checked_row_by_row(alice, bob, settle):
    alice.send(bob, "e\u0301clair")
    settle()
    response = bob.get("search", {"q": "\u0301"})
    assert response.status_code == 200, response.content


# Latin, Greek, Cyrillic, punctuation, kana, half- and full-width forms.
FOLDED_SCRIPTS = [(0x20, 0x250), (0x370, 0x530), (0x1E00, 0x1F00), (0x2000, 0x2070), (0x3040, 0x3100), (0xFF01, 0xFFA0)]


def collation_weights(texts: list[str]) -> list[bytes]:
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(texts), 300):
            part = texts[start : start + 300]
            cursor.execute(
                " UNION ALL ".join(["SELECT WEIGHT_STRING(%s COLLATE utf8mb4_unicode_ci)"] * len(part)), part
            )
            found += [bytes(row[0]) for row in cursor.fetchall()]
    return found


def test_folding_is_never_finer_than_the_collation(transactional_db):
    """Characters the collation takes as equal fold alike (else the index would hide a match LIKE finds)."""
    chars = [
        chr(cp) for low, high in FOLDED_SCRIPTS for cp in range(low, high) if unicodedata.category(chr(cp)) != "Cn"
    ]
    same: dict[bytes, set[str]] = defaultdict(set)
    for char, weight in zip(chars, collation_weights(chars), strict=True):
        if weight:  # ignorable characters: dropped or kept, LIKE skips them anyway
            same[weight].add(char)
    apart = [sorted(group) for group in same.values() if len({search_index.fold(c) for c in group}) > 1]
    assert apart == []
    # Letters the collation expands to two (œ is "oe") fold to those two.
    pairs = ["".join(p) for p in itertools.product(string.ascii_lowercase, repeat=2)]
    expansions = dict(zip(collation_weights(pairs), pairs, strict=True))
    wrong = [(c, expansions[w]) for w, group in same.items() if w in expansions for c in group]
    assert [(c, two) for c, two in wrong if search_index.fold(c) != two] == []


def test_kana_of_either_kind_find_each_other(alice, bob, settle):
    alice.send(bob, "カタカナとひらがな")
    settle()
    assert found(bob, "かたかな") == ["カタカナとひらがな"]
    assert found(bob, "ヒラガナ") == ["カタカナとひらがな"]
    assert found(bob, "ｶﾀ") == ["カタカナとひらがな"]


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
