"""The moderators' admin: every page answers, the recall action and the word list work.

Moderation is recall only (logged in the admin log); messages cannot be
deleted, and the derived tables (conversations, unread counters) are read-only.
"""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from conversations.models import Conversation
from messaging.models import MessageRecord, MessageStatus, SensitiveWord
from profiles.models import User
from unread.models import UnreadCounter


@pytest.fixture
def moderator(transactional_db) -> Client:
    User.objects.create_superuser("moderator", password="mod-pass-123")
    browser = Client()
    assert browser.login(username="moderator", password="mod-pass-123")
    return browser


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/profiles/user/",
        "/admin/conversations/conversation/",
        "/admin/messaging/messagerecord/",
        "/admin/messaging/sensitiveword/",
        "/admin/unread/unreadcounter/",
        "/admin/profiles/block/",
        "/admin/conversations/conversationsetting/",
        "/admin/admin/logentry/",
    ],
)
def test_admin_pages_answer(moderator, alice, bob, path):
    alice.send(bob, "for the moderators")
    assert moderator.get(path).status_code == 200


def test_message_detail_page_answers(moderator, alice, bob):
    sent = alice.send(bob, "look at me")
    record = MessageRecord.objects.get(msg_id=sent["msg_id"])
    assert moderator.get(f"/admin/messaging/messagerecord/{record.pk}/change/").status_code == 200


def test_moderator_recall_action_recalls_for_both_users_at_any_age(moderator, settings, alice, bob):
    settings.CHAT_RECALL_WINDOW_SECONDS = 0
    sent = alice.send(bob, "abusive")
    record = MessageRecord.objects.get(msg_id=sent["msg_id"])
    response = moderator.post(
        "/admin/messaging/messagerecord/", {"action": "recall_selected", "_selected_action": [record.pk]}
    )
    assert response.status_code == 302
    assert MessageRecord.objects.get(pk=record.pk).record_status == MessageStatus.RECALLED
    history = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert history[-1]["status"] == "recalled" and history[-1]["content"] == ""
    assert bob.get("unread").json()["total"] == 0


def test_word_added_in_the_admin_is_masked_in_the_next_message(moderator, alice, bob):
    response = moderator.post("/admin/messaging/sensitiveword/add/", {"word": "darn", "action": "mask"})
    assert response.status_code == 302
    assert SensitiveWord.objects.filter(word="darn").exists()
    assert alice.send(bob, "oh DARN it")["content"] == "oh **** it"


# --- a safer moderation path ------------------------------------------------------


def test_messages_cannot_be_deleted_in_the_admin(moderator, alice, bob):
    sent = alice.send(bob, "evidence")
    record = MessageRecord.objects.get(msg_id=sent["msg_id"])
    changelist = moderator.get("/admin/messaging/messagerecord/")
    assert b"recall_selected" in changelist.content
    assert b"delete_selected" not in changelist.content
    response = moderator.post(
        "/admin/messaging/messagerecord/", {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert moderator.get(f"/admin/messaging/messagerecord/{record.pk}/delete/").status_code == 403
    assert moderator.post(f"/admin/messaging/messagerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MessageRecord.objects.filter(pk=record.pk).exists()
    history = bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in history] == ["evidence"]
    assert bob.get("unread").json()["total"] == 1


def test_a_moderator_recall_is_logged_and_shown_in_the_admin(moderator, alice, bob):
    sent = alice.send(bob, "abusive")
    kept = alice.send(bob, "fine")
    already = alice.send(bob, "taken back by alice")
    assert alice.delete(f"messages/{already['msg_id']}").status_code == 204
    records = {m["msg_id"]: MessageRecord.objects.get(msg_id=m["msg_id"]) for m in (sent, kept, already)}
    response = moderator.post(
        "/admin/messaging/messagerecord/",
        {"action": "recall_selected", "_selected_action": [records[sent["msg_id"]].pk, records[already["msg_id"]].pk]},
    )
    assert response.status_code == 302

    moderator_user = User.objects.get(username="moderator")
    logged = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(MessageRecord))
    assert [(e.object_id, e.user_id, e.action_flag, e.change_message) for e in logged] == [
        (str(records[sent["msg_id"]].pk), moderator_user.pk, CHANGE, "Recalled by a moderator.")
    ]
    page = moderator.get(f"/admin/messaging/messagerecord/{records[sent['msg_id']].pk}/history/")
    assert page.status_code == 200 and b"Recalled by a moderator." in page.content
    log_page = moderator.get("/admin/admin/logentry/")
    assert log_page.status_code == 200 and b"Recalled by a moderator." in log_page.content

    by_id = {m["msg_id"]: m for m in bob.get(f"conversations/{sent['conversation_id']}/messages").json()["results"]}
    assert by_id[sent["msg_id"]]["recalled_by"] == "moderator"
    assert by_id[already["msg_id"]]["recalled_by"] == "sender"
    assert by_id[kept["msg_id"]]["recalled_by"] is None


def test_a_staff_member_who_may_only_view_messages_cannot_recall(transactional_db, alice, bob):
    viewer = User.objects.create_user("viewer", password="view-pass-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_messagerecord"))
    browser = Client()
    assert browser.login(username="viewer", password="view-pass-123")
    sent = alice.send(bob, "look but do not touch")
    record = MessageRecord.objects.get(msg_id=sent["msg_id"])
    assert browser.get("/admin/messaging/messagerecord/").status_code == 200
    browser.post("/admin/messaging/messagerecord/", {"action": "recall_selected", "_selected_action": [record.pk]})
    assert MessageRecord.objects.get(pk=record.pk).record_status == MessageStatus.NORMAL
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("model", ["unread/unreadcounter", "conversations/conversation"])
def test_derived_tables_are_read_only_in_the_admin(moderator, alice, bob, model):
    sent = alice.send(bob, "counted")
    row = UnreadCounter if model.startswith("unread") else Conversation
    pk = row.objects.first().pk
    before = list(row.objects.values())
    changelist = moderator.get(f"/admin/{model}/")
    assert changelist.status_code == 200
    assert b"delete_selected" not in changelist.content
    assert moderator.get(f"/admin/{model}/add/").status_code == 403
    detail = moderator.get(f"/admin/{model}/{pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert moderator.post(f"/admin/{model}/{pk}/change/", {"received": 0, "read": 5}).status_code == 403
    assert moderator.get(f"/admin/{model}/{pk}/delete/").status_code == 403
    moderator.post(f"/admin/{model}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    assert list(row.objects.values()) == before
    assert bob.get("unread").json()["total"] == 1
    assert bob.get("conversations").json()["results"][0]["conversation_id"] == sent["conversation_id"]
