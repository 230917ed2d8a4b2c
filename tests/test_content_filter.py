"""The sensitive-content filter on sends: masked words, rejected words, and a list of five thousand."""

import random

from messaging.content_filter import forget_cached_words
from messaging.models import MessageRecord, SensitiveWord


def add_words(words: dict[str, str]) -> None:
    for word, action in words.items():
        SensitiveWord.objects.create(word=word, action=action)
    forget_cached_words()


def test_mask_words_are_starred_case_insensitively_and_overlapping(alice, bob):
    mask = SensitiveWord.Action.MASK
    add_words({"darn": mask, "abcd": mask, "cdef": mask, "he": mask, "she": mask, "hers": mask})
    cases = {
        "Darn it, DARN!": "**** it, ****!",
        "xdarnedx": "x****edx",
        "xABCdefx": "x******x",
        "ushers": "u*****",
        "nothing to see": "nothing to see",
        "Ah, she said 🙂": "Ah, *** said 🙂",
    }
    for text, expected in cases.items():
        sent = alice.send(bob, text)
        assert sent["content"] == expected, text
    history = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in history] == list(cases.values())


def test_reject_word_answers_validation_error_and_stores_nothing(alice, bob):
    add_words({"forbidden": SensitiveWord.Action.REJECT, "darn": SensitiveWord.Action.MASK})
    response = alice.post("messages", {"to": bob.id, "content": "darn, this is ForBiddenStuff", "client_msg_id": "r1"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert "content" in body["errors"]
    assert MessageRecord.objects.count() == 0
    assert bob.get("unread").json() == {"total": 0, "conversations": {}}
    assert bob.get("conversations").json()["results"] == []
    assert alice.get("sync", {"since": 0}).json()["results"] == []
    # Nothing was stored under that client_msg_id: a clean retry is a new message.
    retry = alice.post("messages", {"to": bob.id, "content": "darn, sorry", "client_msg_id": "r1"})
    assert retry.status_code == 201
    assert retry.json()["content"] == "****, sorry"


def reference_mask(text: str, words: list[str]) -> str:
    lowered = text.lower()
    chars = list(text)
    for word in words:
        start = lowered.find(word)
        while start != -1:
            chars[start : start + len(word)] = "*" * len(word)
            start = lowered.find(word, start + 1)
    return "".join(chars)


def test_filter_with_five_thousand_words_still_masks_correctly(alice, bob):
    rng = random.Random(20260101)
    words: set[str] = set()
    while len(words) < 5000:
        words.add("".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(4, 9))))
    word_list = sorted(words)
    SensitiveWord.objects.bulk_create([SensitiveWord(word=w) for w in word_list])
    forget_cached_words()
    for _ in range(15):
        picked = rng.sample(word_list, 3)
        filler = ["qrstu", "vwxyz", "  ", "🙂", "QRS"]
        parts = [rng.choice(filler) for _ in range(4)]
        text = f"{parts[0]}{picked[0].upper()}{parts[1]}{picked[1]}{parts[2]}{picked[2].title()}{parts[3]}"
        text += " " + "".join(rng.choice("abcdefghijklmnopxyz ") for _ in range(80))
        sent = alice.send(bob, text)
        assert sent["content"] == reference_mask(text, word_list)
        for word in picked:
            assert word not in sent["content"].lower()
    untouched = alice.send(bob, "qrstu vwxyz QRS 🙂")
    assert untouched["content"] == "qrstu vwxyz QRS 🙂"
