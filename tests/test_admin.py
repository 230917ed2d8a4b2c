"""The moderators' admin: every page answers, the recall action and the word list work."""

import pytest
from django.test import Client

from messaging.models import MessageRecord, MessageStatus, SensitiveWord
from profiles.models import User


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
