"""Frames a client applies to what it fetched give what it would fetch again (Zulip's verify_action).

A client keeps its conversation list and unread counts current from the
frames pushed to it. For each operation: GET the state, run the operation,
apply every frame pushed to that user (captured in-process, no sockets) to
the old state, and compare with a fresh GET.
"""

import copy

from messaging import fanout
from messaging.models import MessageRecord

from .conftest import ApiUser


def state(user: ApiUser) -> dict:
    return {
        "conversations": user.get("conversations", {"limit": 100}).json()["results"],
        "unread": user.get("unread").json(),
    }


def apply(old: dict, user_id: int, frames: list[dict]) -> dict:
    """What a client does with its frames: the reducer the browser UI implements too."""
    new = copy.deepcopy(old)
    by_id = {c["conversation_id"]: c for c in new["conversations"]}
    for frame in frames:
        if frame["type"] == "message":
            message = frame["message"]
            conversation = by_id.get(message["conversation_id"])
            if conversation is None:
                peer = frame["sender"] if message["sender_id"] != user_id else None
                conversation = {"conversation_id": message["conversation_id"], "peer": peer, "unread": 0}
                by_id[message["conversation_id"]] = conversation
                new["conversations"].append(conversation)
            last = conversation.get("last_message")
            if last is None or last["msg_id"] < message["msg_id"]:
                conversation["last_message"] = message
        elif frame["type"] == "unread":
            by_id[frame["conversation_id"]]["unread"] = frame["unread"]
            counts = {k: v for k, v in new["unread"]["conversations"].items() if k != str(frame["conversation_id"])}
            if frame["unread"]:
                counts[str(frame["conversation_id"])] = frame["unread"]
            new["unread"] = {"total": frame["total"], "conversations": dict(sorted(counts.items()))}
        elif frame["type"] == "recalled":
            conversation = by_id[frame["conversation_id"]]
            if conversation["last_message"]["msg_id"] == frame["msg_id"]:
                conversation["last_message"].update(
                    status="recalled", content="", recalled_by=frame.get("recalled_by", "sender")
                )
        elif frame["type"] == "changed":
            # Version 1.2: the message's new state, kept if its rev is newer than the copy held.
            message = frame["message"]
            conversation = by_id[message["conversation_id"]]
            last = conversation["last_message"]
            if last["msg_id"] == message["msg_id"] and last.get("rev", 0) < message["rev"]:
                conversation["last_message"] = message
    new["conversations"].sort(key=lambda c: c["last_message"]["msg_id"], reverse=True)
    return new


def comparable(snapshot: dict) -> dict:
    """Fields the frames carry (presence and read receipts travel in frames of their own)."""
    return {
        "unread": snapshot["unread"],
        "conversations": [(c["conversation_id"], c["last_message"], c["unread"]) for c in snapshot["conversations"]],
    }


def check(users: list[ApiUser], pushed: list[tuple[int, dict]], before: dict[int, dict]) -> None:
    for user in users:
        frames = [frame for user_id, frame in pushed if user_id == user.id]
        assert frames, f"nothing was pushed to {user.username}"
        assert comparable(apply(before[user.id], user.id, frames)) == comparable(state(user))


def fan_out_everything() -> None:
    """Run the realtime task's work here, as the worker would (its frames are captured in-process)."""
    fanout.fan_out_batch(list(MessageRecord.objects.filter(fan_out_done=False).values_list("msg_id", flat=True)))


def test_send_frames_update_both_users(alice, bob, carol, pushed_frames):
    carol.send(alice, "earlier")
    fan_out_everything()
    before = {u.id: state(u) for u in (alice, bob)}
    pushed_frames.clear()
    alice.send(bob, "hi bob")
    bob.send(alice, "hi alice")
    alice.send(bob, "how are you?")
    fan_out_everything()
    check([alice, bob], pushed_frames, before)


def test_read_frames_update_the_reader(alice, bob, pushed_frames):
    for text in ("one", "two", "three"):
        alice.send(bob, text)
    fan_out_everything()
    before = {bob.id: state(bob)}
    conversation = before[bob.id]["conversations"][0]
    pushed_frames.clear()
    bob.post(f"conversations/{conversation['conversation_id']}/read", {"up_to": conversation["last_message"]["msg_id"]})
    check([bob], pushed_frames, before)


def test_recall_frames_update_both_users(alice, bob, pushed_frames):
    alice.send(bob, "keep")
    last = alice.send(bob, "oops")
    fan_out_everything()
    before = {u.id: state(u) for u in (alice, bob)}
    pushed_frames.clear()
    assert alice.delete(f"messages/{last['msg_id']}").status_code == 204
    check([alice, bob], pushed_frames, before)


def test_edit_frames_update_both_users(alice, bob, pushed_frames):
    """PROTOCOL.md 1.2: an edit is one ``changed`` frame to each user."""
    alice.send(bob, "keep")
    last = alice.send(bob, "tpyo")
    fan_out_everything()
    before = {u.id: state(u) for u in (alice, bob)}
    pushed_frames.clear()
    assert alice.patch(f"messages/{last['msg_id']}", {"content": "typo"}).status_code == 200
    check([alice, bob], pushed_frames, before)


def test_applying_sync_pages_gives_the_fresh_history(alice, bob):
    """A 1.2 client that keeps one copy per msg_id (the largest rev) and syncs by rev holds what GET shows."""
    sent = [alice.send(bob, f"m{i}") for i in range(5)] + [bob.send(alice, "reply")]
    held: dict[int, dict] = {}
    since = 0

    def catch_up() -> None:
        nonlocal since
        while True:
            page = bob.get("sync", {"since": since, "limit": 2}).json()
            for message in page["results"]:
                if message["msg_id"] not in held or held[message["msg_id"]]["rev"] < message["rev"]:
                    held[message["msg_id"]] = message
            since = page["next_since"]
            if not page["has_more"]:
                return

    catch_up()
    assert alice.patch(f"messages/{sent[1]['msg_id']}", {"content": "m1, edited"}).status_code == 200
    assert alice.delete(f"messages/{sent[3]['msg_id']}").status_code == 204
    assert alice.patch(f"messages/{sent[1]['msg_id']}", {"content": "m1, edited twice"}).status_code == 200
    catch_up()
    conversation = sent[0]["conversation_id"]
    fresh = bob.get(f"conversations/{conversation}/messages").json()["results"]
    assert [held[m] for m in sorted(held)] == fresh


def test_reaction_frames_update_both_users(alice, bob, pushed_frames):
    """PROTOCOL.md 1.2: a reaction set, replaced and removed is one ``changed`` frame each."""
    last = alice.send(bob, "react to me")
    fan_out_everything()
    before = {u.id: state(u) for u in (alice, bob)}
    pushed_frames.clear()
    path = f"/api/v1/messages/{last['msg_id']}/reaction"
    assert bob.client.put(path, {"emoji": "👍"}, format="json").status_code == 200
    assert alice.client.put(path, {"emoji": "❤️"}, format="json").status_code == 200
    assert bob.client.put(path, {"emoji": "😂"}, format="json").status_code == 200
    assert bob.client.delete(path).status_code == 200
    check([alice, bob], pushed_frames, before)
