"""PROTOCOL.md "Version 1.2 additions", as a client sees them over REST (and the frames pushed).

Revisions (``rev``, sync by rev, the ``changed`` frame) and edits. Users and
messages are made through the API.
"""

import pytest
from django.test import Client

from messaging.content_filter import forget_cached_words
from messaging.models import MessageRecord, SensitiveWord
from profiles.models import User

from .helpers import assert_error, assert_message, avoid_window_edge, recall


def history_of(user, conversation_id: int) -> list[dict]:
    return user.get(f"conversations/{conversation_id}/messages").json()["results"]


def last_message(user, conversation_id: int) -> dict:
    page = user.get("conversations", {"limit": 100}).json()["results"]
    return next(c for c in page if c["conversation_id"] == conversation_id)["last_message"]


def edit(user, msg_id: int, content: str):
    return user.patch(f"messages/{msg_id}", {"content": content})


def frames_to(pushed, user, frame_type: str) -> list[dict]:
    return [frame for user_id, frame in pushed if user_id == user.id and frame["type"] == frame_type]


# --- revisions -------------------------------------------------------------------


def test_every_message_shape_carries_rev_and_edited_at(chat):
    alice, conv = chat["alice"], chat["conv"]
    for message in (
        history_of(alice, conv)[0],
        last_message(alice, conv),
        alice.get("sync").json()["results"][0],
        chat["bob"].get("offline").json()["results"][0]["messages"][0],
    ):
        assert message["rev"] == message["msg_id"] == chat["msg"]
        assert message["edited_at"] is None


def test_recall_pushes_recalled_for_11_clients_and_changed_to_both_users(chat, pushed_frames):
    alice, bob = chat["alice"], chat["bob"]
    recall(alice, {"msg_id": chat["msg"]})
    for user in (alice, bob):
        [recalled] = frames_to(pushed_frames, user, "recalled")
        [changed] = frames_to(pushed_frames, user, "changed")
        assert recalled["msg_id"] == changed["message"]["msg_id"] == chat["msg"]
        assert changed["message"]["status"] == "recalled" and changed["message"]["rev"] > chat["msg"]
        assert changed["message"] == history_of(user, chat["conv"])[0] == last_message(user, chat["conv"])


# --- edit ------------------------------------------------------------------------


def test_sender_edits_a_message_everyone_sees_the_new_content(chat, pushed_frames):
    alice, bob, conv = chat["alice"], chat["bob"], chat["conv"]
    since = bob.get("sync").json()["next_since"]
    response = edit(alice, chat["msg"], "first, edited ✏️")
    assert response.status_code == 200, response.content
    edited = assert_message(response.json(), msg_id=chat["msg"], content="first, edited ✏️", status="normal")
    assert edited["edited_at"] is not None and edited["edited_at"].endswith(("Z", "+00:00"))
    assert edited["rev"] > edited["msg_id"]
    for user in (alice, bob):
        assert history_of(user, conv) == [edited]
        assert last_message(user, conv) == edited
        assert frames_to(pushed_frames, user, "changed") == [{"type": "changed", "message": edited}]
    page = bob.get("sync", {"since": since}).json()
    assert page["results"] == [edited] and page["next_since"] == edited["rev"]


def test_editing_to_the_same_content_changes_nothing(chat, pushed_frames):
    alice = chat["alice"]
    before = history_of(alice, chat["conv"])[0]
    response = edit(alice, chat["msg"], "first")
    assert response.status_code == 200
    assert response.json() == before
    assert not frames_to(pushed_frames, alice, "changed")


def test_each_edit_takes_a_larger_rev_and_keeps_the_earlier_versions(chat):
    alice = chat["alice"]
    first = edit(alice, chat["msg"], "second version").json()
    second = edit(alice, chat["msg"], "third version").json()
    assert chat["msg"] < first["rev"] < second["rev"]
    record = MessageRecord.objects.get(msg_id=chat["msg"])
    assert [v.content for v in record.versions.all()] == ["first", "second version"]


def test_recipient_may_not_edit_and_strangers_do_not_learn_the_message_exists(chat):
    assert_error(edit(chat["bob"], chat["msg"], "mine now"), 403, "forbidden")
    assert_error(edit(chat["carol"], chat["msg"], "mine now"), 404, "not_found")
    assert_error(edit(chat["alice"], 2**53 - 1, "x"), 404, "not_found")
    assert history_of(chat["alice"], chat["conv"])[0]["content"] == "first"


def test_a_recalled_message_cannot_be_edited(chat):
    recall(chat["alice"], {"msg_id": chat["msg"]})
    assert_error(edit(chat["alice"], chat["msg"], "back again"), 403, "forbidden")


def test_editing_after_the_edit_window_is_forbidden(chat, settings):
    settings.CHAT_EDIT_WINDOW_SECONDS = 0
    assert_error(edit(chat["alice"], chat["msg"], "too late"), 403, "forbidden")


@pytest.mark.parametrize(
    "body",
    [{}, {"content": ""}, {"content": "   "}, {"content": "x" * 4001}, {"content": "a\x00b"}, {"content": 7}],
)
def test_edit_content_follows_the_rules_of_a_send(chat, body):
    response = chat["alice"].patch(f"messages/{chat['msg']}", body)
    assert_error(response, 400, "validation_error", "content")


def test_edit_passes_the_content_filter(chat):
    SensitiveWord.objects.create(word="darn", action=SensitiveWord.Action.MASK)
    SensitiveWord.objects.create(word="forbidden", action=SensitiveWord.Action.REJECT)
    forget_cached_words()
    assert edit(chat["alice"], chat["msg"], "oh darn").json()["content"] == "oh ****"
    assert_error(edit(chat["alice"], chat["msg"], "forbidden fruit"), 400, "validation_error", "content")


def test_edits_are_rate_limited(chat, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_EDIT_RATE = (2, 60)
    avoid_window_edge(60)
    assert edit(chat["alice"], chat["msg"], "one").status_code == 200
    assert edit(chat["alice"], chat["msg"], "two").status_code == 200
    response = edit(chat["alice"], chat["msg"], "three")
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_admin_shows_the_earlier_versions_read_only(chat):
    edit(chat["alice"], chat["msg"], "the new words")
    User.objects.create_superuser("moderator", password="mod-pass-123")
    browser = Client()
    assert browser.login(username="moderator", password="mod-pass-123")
    record = MessageRecord.objects.get(msg_id=chat["msg"])
    page = browser.get(f"/admin/messaging/messagerecord/{record.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "earlier version" in text and "first" in text
    assert 'name="versions-0-content"' not in text  # read-only: no form field
