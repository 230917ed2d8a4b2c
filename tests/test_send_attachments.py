"""Sending with attachments (PROTOCOL.md 1.2): the rules over REST and the socket, and the Message everywhere.

Uploads go through the REST API into each test's own MEDIA_ROOT; sends go
through REST, the socket of the session's daphne, or the send batch itself
(``accept_batch``) where the batch's behaviour is the point.
"""

import pytest

from chat_project.common.errors import InvalidInput
from messaging.accept import SendRequest, SendResult, accept_batch
from messaging.fanout import fan_out_batch
from messaging.models import Attachment, MessageRecord

from .test_attachments import PDF, fetch, jpeg, media, uploaded  # media: a fixture

__all__ = ["media"]


def send(user, to, **body):
    return user.post("messages", {"to": to.id, **body})


def assert_attachments_invalid(response) -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and body["errors"]["attachments"], body
    return body["errors"]["attachments"][0]


def history_of(user, conversation_id: int) -> list[dict]:
    return user.get(f"conversations/{conversation_id}/messages").json()["results"]


def last_message(user, conversation_id: int) -> dict:
    page = user.get("conversations", {"limit": 100}).json()["results"]
    return next(c for c in page if c["conversation_id"] == conversation_id)["last_message"]


# --- the rules -------------------------------------------------------------------------


def test_a_photo_and_a_file_without_text_reach_every_read_path(media, alice, bob, pushed_frames):
    photo = uploaded(alice, jpeg())
    pdf = uploaded(alice, PDF, name="minutes.pdf", content_type="application/pdf")
    response = send(
        alice, bob, content="", client_msg_id="att-1", attachments=[pdf["attachment_id"], photo["attachment_id"]]
    )
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["content"] == ""
    assert message["attachments"] == [photo, pdf]  # upload order, each as its upload answered
    conv = message["conversation_id"]

    assert history_of(alice, conv) == history_of(bob, conv) == [message]
    assert last_message(alice, conv) == last_message(bob, conv) == message  # the recent window in Redis
    assert alice.get("sync").json()["results"] == [message]
    assert bob.get("offline").json()["results"][0]["messages"] == [message]
    assert alice.get("search", {"q": "x"}).status_code == 200
    # The fan-out's frames (run here, so this process's pushes are captured).
    MessageRecord.objects.filter(msg_id=message["msg_id"]).update(fan_out_done=False)
    fan_out_batch([message["msg_id"]], projected=True)
    frames = [frame for user_id, frame in pushed_frames if frame["type"] == "message" and user_id == bob.id]
    assert frames and frames[-1]["message"] == message
    # Both users fetch the bytes once attached.
    assert fetch(bob.client, photo["thumbnail_url"])[0].status_code == 200
    assert fetch(bob.client, pdf["url"])[1] == PDF


def test_messages_without_attachments_carry_an_empty_list(alice, bob):
    message = alice.send(bob, "plain")
    assert message["attachments"] == []
    assert history_of(bob, message["conversation_id"])[0]["attachments"] == []
    assert last_message(bob, message["conversation_id"])["attachments"] == []


def test_content_may_be_empty_only_with_attachments(media, alice, bob):
    response = send(alice, bob, content="")
    assert response.status_code == 400 and response.json()["errors"]["content"] == ["The message is empty."]
    response = send(alice, bob, content="", attachments=[])
    assert response.status_code == 400 and "content" in response.json()["errors"]
    attachment_id = uploaded(alice, PDF)["attachment_id"]
    response = send(alice, bob, content="   ", attachments=[attachment_id])
    assert response.status_code == 400 and "content" in response.json()["errors"]
    response = send(alice, bob, content="with text", attachments=[attachment_id])
    assert response.status_code == 201 and response.json()["content"] == "with text"


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        [1.5],
        ["1"],
        [True],
        [0],
        [2**53],
        None,
    ],
)
def test_attachments_must_be_a_list_of_ids(media, alice, bob, bad):
    assert_attachments_invalid(send(alice, bob, content="x", attachments=bad))


def test_eleven_attachments_or_one_twice_are_refused_and_claim_nothing(media, alice, bob):
    ids = [uploaded(alice, PDF)["attachment_id"] for _ in range(11)]
    assert "At most 10" in assert_attachments_invalid(send(alice, bob, content="", attachments=ids))
    assert "once" in assert_attachments_invalid(send(alice, bob, content="", attachments=[ids[0], ids[0]]))
    assert not Attachment.objects.filter(message__isnull=False).exists()
    assert MessageRecord.objects.count() == 0
    response = send(alice, bob, content="", attachments=ids[:10])
    assert response.status_code == 201 and len(response.json()["attachments"]) == 10


def test_someone_elses_upload_an_unknown_one_or_one_already_sent_are_refused(media, alice, bob, carol):
    theirs = uploaded(bob, PDF)["attachment_id"]
    assert "not an upload of yours" in assert_attachments_invalid(send(alice, carol, content="x", attachments=[theirs]))
    assert "not an upload of yours" in assert_attachments_invalid(
        send(alice, carol, content="x", attachments=[987654321])
    )
    mine = uploaded(alice, PDF)["attachment_id"]
    first = send(alice, bob, content="first", attachments=[mine]).json()
    again = send(alice, carol, content="again", attachments=[mine])
    assert "already part of another message" in assert_attachments_invalid(again)
    # Refused sends store nothing and count nothing.
    assert list(MessageRecord.objects.values_list("msg_id", flat=True)) == [first["msg_id"]]
    assert carol.get("unread").json()["total"] == 0
    assert Attachment.objects.get(pk=mine).message_id == first["msg_id"]


def test_a_retried_send_answers_the_first_message_and_attaches_once(media, alice, bob):
    ids = [uploaded(alice, PDF)["attachment_id"], uploaded(alice, jpeg())["attachment_id"]]
    first = send(alice, bob, content="", client_msg_id="retry-1", attachments=ids)
    assert first.status_code == 201
    again = send(alice, bob, content="", client_msg_id="retry-1", attachments=ids)
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert MessageRecord.objects.count() == 1 and bob.get("unread").json()["total"] == 1
    assert set(Attachment.objects.values_list("message_id", flat=True)) == {first.json()["msg_id"]}
    # A repeat naming other uploads still answers the first message and claims none of them.
    other = uploaded(alice, PDF)["attachment_id"]
    third = send(alice, bob, content="", client_msg_id="retry-1", attachments=[other])
    assert third.status_code == 200 and third.json() == first.json()
    assert Attachment.objects.get(pk=other).message_id is None


def test_one_upload_in_two_sends_of_one_batch_goes_to_the_first_the_second_fails_alone(media, alice, bob, carol):
    shared = uploaded(alice, PDF)["attachment_id"]
    results = accept_batch(
        [
            SendRequest(alice.id, bob.id, "", "b-1", attachments=(shared,)),
            SendRequest(alice.id, carol.id, "", "b-2", attachments=(shared,)),
            SendRequest(alice.id, carol.id, "plain", "b-3"),
            SendRequest(alice.id, bob.id, "", "b-1", attachments=(shared,)),  # the first, repeated
        ]
    )
    assert isinstance(results[0], SendResult) and results[0].created
    assert [a["attachment_id"] for a in results[0].message["attachments"]] == [shared]
    assert isinstance(results[1], InvalidInput) and "already part" in results[1].errors["attachments"][0]
    assert isinstance(results[2], SendResult) and results[2].message["attachments"] == []
    assert isinstance(results[3], SendResult) and not results[3].created
    assert results[3].message == results[0].message
    assert sorted(MessageRecord.objects.values_list("content", flat=True)) == ["", "plain"]
    assert Attachment.objects.get(pk=shared).message_id == results[0].message["msg_id"]
    assert carol.get("unread").json()["total"] == 1 and bob.get("unread").json()["total"] == 1


def test_recall_removes_the_attachments_and_their_files_are_404(media, alice, bob, pushed_frames):
    photo = uploaded(alice, jpeg())
    message = send(alice, bob, content="", attachments=[photo["attachment_id"]]).json()
    assert alice.delete(f"messages/{message['msg_id']}").status_code == 204
    conv = message["conversation_id"]
    for user in (alice, bob):
        assert history_of(user, conv)[0]["attachments"] == []
        assert last_message(user, conv)["attachments"] == []
        for url in (photo["url"], photo["thumbnail_url"]):
            assert user.client.get(url).status_code == 404
    changed = [frame for _, frame in pushed_frames if frame["type"] == "changed"]
    assert changed and all(frame["message"]["attachments"] == [] for frame in changed)
    assert not Attachment.objects.exists()


def test_an_edit_or_reaction_keeps_the_attachments_in_the_changed_frame(media, alice, bob, pushed_frames):
    pdf = uploaded(alice, PDF, name="a.pdf")
    message = send(alice, bob, content="see", attachments=[pdf["attachment_id"]]).json()
    edited = alice.patch(f"messages/{message['msg_id']}", {"content": "see this"})
    assert edited.status_code == 200 and edited.json()["attachments"] == [pdf]
    changed = [frame for _, frame in pushed_frames if frame["type"] == "changed"]
    assert changed and changed[-1]["message"]["attachments"] == [pdf]
    assert last_message(bob, message["conversation_id"])["attachments"] == [pdf]


# --- the socket --------------------------------------------------------------------------


def test_the_socket_send_takes_attachments_with_the_same_errors(media, connect, alice, bob):
    pdf = uploaded(alice, PDF, name="notes.pdf")
    theirs = uploaded(bob, PDF)["attachment_id"]
    sock = connect(alice)
    sock.expect("ready")
    sock.send(
        {"type": "send", "to": bob.id, "content": "", "client_msg_id": "ws-1", "attachments": [pdf["attachment_id"]]}
    )
    ack = sock.expect("ack", client_msg_id="ws-1")
    assert ack["message"]["attachments"] == [pdf] and ack["message"]["content"] == ""
    # The same client_msg_id again: the first message, no "already part of another message".
    sock.send(
        {"type": "send", "to": bob.id, "content": "", "client_msg_id": "ws-1", "attachments": [pdf["attachment_id"]]}
    )
    assert sock.expect("ack", client_msg_id="ws-1")["message"] == ack["message"]

    for n, bad in enumerate(([theirs], [pdf["attachment_id"]], list(range(1, 12)), "x")):
        cid = f"ws-bad-{n}"
        sock.send({"type": "send", "to": bob.id, "content": "", "client_msg_id": cid, "attachments": bad})
        error = sock.expect("error", client_msg_id=cid)
        assert error["code"] == "validation_error" and error["errors"]["attachments"], error
        rest = send(alice, bob, content="", client_msg_id=cid + "-rest", attachments=bad)
        assert rest.json()["errors"] == error["errors"]
    sock.send({"type": "send", "to": bob.id, "content": "", "client_msg_id": "ws-empty"})
    assert sock.expect("error", client_msg_id="ws-empty")["errors"] == {"content": ["The message is empty."]}

    other = connect(bob)
    other.expect("ready")
    assert bob.get("sync").json()["results"][-1]["attachments"] == [pdf]
