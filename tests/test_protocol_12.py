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


# --- reply -----------------------------------------------------------------------


def reply(user, to, reply_to, content: str = "a reply"):
    return user.post("messages", {"to": to.id, "content": content, "reply_to": reply_to})


def test_a_reply_quotes_a_message_of_the_same_conversation(chat):
    alice, bob = chat["alice"], chat["bob"]
    response = reply(bob, alice, chat["msg"])
    assert response.status_code == 201, response.content
    message = assert_message(response.json(), content="a reply")
    assert message["reply_to"] == {"msg_id": chat["msg"], "sender_id": alice.id, "preview": "first", "status": "normal"}
    for user in (alice, bob):
        assert history_of(user, chat["conv"])[-1] == message
        assert user.get("sync").json()["results"][-1] == message
    assert alice.get("offline").json()["results"][0]["messages"][-1] == message
    assert history_of(alice, chat["conv"])[0]["reply_to"] is None


def test_the_preview_is_the_quoted_messages_current_content(chat):
    alice, bob = chat["alice"], chat["bob"]
    long = "👋" * 150
    quoted = alice.send(bob, long)
    answer = reply(bob, alice, quoted["msg_id"]).json()
    assert answer["reply_to"]["preview"] == "👋" * 100
    assert alice.patch(f"messages/{quoted['msg_id']}", {"content": "short now"}).status_code == 200
    assert history_of(bob, chat["conv"])[-1]["reply_to"]["preview"] == "short now"
    recall(alice, quoted)
    now = history_of(bob, chat["conv"])[-1]
    assert now["reply_to"] == {"msg_id": quoted["msg_id"], "sender_id": alice.id, "preview": "", "status": "recalled"}
    # The quoting message itself did not change: same rev.
    assert now["rev"] == answer["rev"]


@pytest.mark.parametrize("reply_to", ["other conversation", "unknown", "x", -1, 1.5, True])
def test_reply_to_anything_else_is_a_validation_error(chat, reply_to):
    alice, bob, carol = chat["alice"], chat["bob"], chat["carol"]
    elsewhere = carol.send(bob, "not in alice's conversation with bob")
    value = {"other conversation": elsewhere["msg_id"], "unknown": 2**53 - 1}.get(reply_to, reply_to)
    assert_error(reply(alice, bob, value), 400, "validation_error", "reply_to")
    assert len(history_of(alice, chat["conv"])) == 1


def test_a_batch_of_replies_fetches_the_quoted_messages_once(make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.accept import SendRequest, SendResult, accept_batch

    alice = make_user("alice")
    peers = [make_user(f"peer{i}") for i in range(10)]
    firsts = accept_batch([SendRequest(alice.id, p.id, "hello", None) for p in peers])
    quoted = [r.message["msg_id"] for r in firsts if isinstance(r, SendResult)]

    def replies(n: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            results = accept_batch(
                [SendRequest(p.id, alice.id, "re", None, quoted[i]) for i, p in enumerate(peers[:n])]
            )
        assert all(isinstance(r, SendResult) and r.message["reply_to"]["msg_id"] for r in results), results
        return len(captured)

    assert replies(1) == replies(10)


def test_a_socket_send_may_reply(connect, chat):
    alice, bob = chat["alice"], chat["bob"]
    sock = connect(bob)
    sock.expect("ready")
    sock.send({"type": "send", "to": alice.id, "content": "re", "client_msg_id": "r-1", "reply_to": chat["msg"]})
    ack = sock.expect("ack", client_msg_id="r-1")
    assert ack["message"]["reply_to"]["msg_id"] == chat["msg"]
    sock.send({"type": "send", "to": alice.id, "content": "re", "client_msg_id": "r-2", "reply_to": 12345})
    error = sock.expect("error", client_msg_id="r-2")
    assert error["code"] == "validation_error" and "reply_to" in error["errors"]


# --- reactions -------------------------------------------------------------------


def react(user, msg_id: int, emoji):
    return user.client.put(f"/api/v1/messages/{msg_id}/reaction", {"emoji": emoji}, format="json")


def unreact(user, msg_id: int):
    return user.delete(f"messages/{msg_id}/reaction")


def test_both_users_react_and_see_the_reactions_ordered_by_user(chat, pushed_frames):
    alice, bob, conv = chat["alice"], chat["bob"], chat["conv"]
    first = react(bob, chat["msg"], "👍🏽")
    assert first.status_code == 200, first.content
    assert first.json()["reactions"] == [{"user_id": bob.id, "emoji": "👍🏽"}]
    second = react(alice, chat["msg"], "❤️").json()
    assert second["reactions"] == [{"user_id": alice.id, "emoji": "❤️"}, {"user_id": bob.id, "emoji": "👍🏽"}]
    assert chat["msg"] < first.json()["rev"] < second["rev"]
    for user in (alice, bob):
        assert history_of(user, conv) == [second] == [last_message(user, conv)]
        assert [f["message"] for f in frames_to(pushed_frames, user, "changed")] == [first.json(), second]


def test_a_new_reaction_replaces_the_users_own_and_delete_removes_it(chat):
    bob = chat["bob"]
    react(bob, chat["msg"], "👍")
    replaced = react(bob, chat["msg"], "😂").json()
    assert replaced["reactions"] == [{"user_id": bob.id, "emoji": "😂"}]
    removed = unreact(bob, chat["msg"])
    assert removed.status_code == 200
    assert removed.json()["reactions"] == [] and removed.json()["rev"] > replaced["rev"]


def test_the_same_reaction_again_or_removing_none_changes_nothing(chat, pushed_frames):
    bob = chat["bob"]
    set_once = react(bob, chat["msg"], "👍").json()
    assert react(bob, chat["msg"], "👍").json() == set_once
    assert unreact(chat["alice"], chat["msg"]).json() == set_once
    assert len(frames_to(pushed_frames, bob, "changed")) == 1


def test_reactions_to_recalled_messages_are_forbidden_and_strangers_get_404(chat):
    assert_error(react(chat["carol"], chat["msg"], "👍"), 404, "not_found")
    assert_error(unreact(chat["carol"], chat["msg"]), 404, "not_found")
    recall(chat["alice"], {"msg_id": chat["msg"]})
    assert_error(react(chat["bob"], chat["msg"], "👍"), 403, "forbidden")
    assert_error(unreact(chat["bob"], chat["msg"]), 403, "forbidden")


def test_a_recall_removes_the_reactions_for_both_users(chat, pushed_frames):
    alice, bob, conv = chat["alice"], chat["bob"], chat["conv"]
    react(bob, chat["msg"], "👍")
    react(alice, chat["msg"], "❤️")
    recall(alice, {"msg_id": chat["msg"]})
    for user in (alice, bob):
        [changed] = [
            f["message"] for f in frames_to(pushed_frames, user, "changed") if f["message"]["status"] != "normal"
        ]
        assert changed["reactions"] == [] and changed["status"] == "recalled"
        assert history_of(user, conv)[0]["reactions"] == []
        assert last_message(user, conv)["reactions"] == []
    assert MessageRecord.objects.get(msg_id=chat["msg"]).reactions is None


@pytest.mark.parametrize("emoji", ["👍", "👍🏽", "❤️", "🇫🇷", "👨‍👩‍👧‍👦", "✔"])
def test_emoji_are_accepted(chat, emoji):
    assert react(chat["bob"], chat["msg"], emoji).json()["reactions"][0]["emoji"] == emoji


@pytest.mark.parametrize("emoji", ["a", "", "7", "!", " ", "👍 ", "é", "中", "👍" * 9, None, 5, ["👍"], "\x00"])
def test_anything_else_is_not_an_emoji(chat, emoji):
    assert_error(react(chat["bob"], chat["msg"], emoji), 400, "validation_error", "emoji")


def test_reactions_are_rate_limited(chat, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_REACTION_RATE = (2, 60)
    avoid_window_edge(60)
    assert react(chat["bob"], chat["msg"], "👍").status_code == 200
    assert unreact(chat["bob"], chat["msg"]).status_code == 200
    assert_error(react(chat["bob"], chat["msg"], "👍"), 429, "rate_limited")


def test_changed_frames_reach_every_socket_of_both_users(connect, chat):
    alice, bob = chat["alice"], chat["bob"]
    sockets = [connect(alice), connect(alice), connect(bob)]
    for sock in sockets:
        sock.expect("ready")
    edited = edit(alice, chat["msg"], "first, edited").json()
    reacted = react(bob, chat["msg"], "👍").json()
    for sock in sockets:
        assert sock.expect("changed")["message"] == edited
        assert sock.expect("changed")["message"] == reacted
