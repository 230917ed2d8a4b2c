"""Unread counts and marking read: the REST endpoints, and every count against a recount of the database."""

import threading
import time

import pytest

from messaging.models import MessageRecord

from .helpers import assert_error, assert_unread_matches_database, conversation_ids_of, read, recall, recount, unread

# --- read and unread over REST -------------------------------------------------


def test_mark_read_up_to_and_everything(alice, bob, carol):
    sent = [alice.send(bob, f"a{n}") for n in range(3)]
    with_alice = sent[0]["conversation_id"]
    with_carol = carol.send(bob, "c")["conversation_id"]
    assert unread(bob) == {"total": 4, "conversations": {str(with_alice): 3, str(with_carol): 1}}
    assert unread(alice) == {"total": 0, "conversations": {}}

    response = bob.post(f"conversations/{with_alice}/read", {"up_to": sent[1]["msg_id"]})
    assert response.status_code == 200
    assert response.json() == {"conversation_id": with_alice, "unread": 1}
    assert unread(bob) == {"total": 2, "conversations": {str(with_alice): 1, str(with_carol): 1}}

    response = bob.post(f"conversations/{with_carol}/read")
    assert response.json() == {"conversation_id": with_carol, "unread": 0}
    # Conversations with nothing unread are left out.
    assert unread(bob) == {"total": 1, "conversations": {str(with_alice): 1}}
    assert bob.get(f"conversations/{with_carol}").json()["unread"] == 0

    # Reading an older point again never raises the count back.
    response = bob.post(f"conversations/{with_alice}/read", {"up_to": sent[0]["msg_id"]})
    assert response.json() == {"conversation_id": with_alice, "unread": 1}
    response = bob.post(f"conversations/{with_alice}/read", {})
    assert response.json() == {"conversation_id": with_alice, "unread": 0}
    assert unread(bob) == {"total": 0, "conversations": {}}


def test_reading_own_messages_changes_nothing(alice, bob):
    sent = alice.send(bob, "mine")
    response = alice.post(f"conversations/{sent['conversation_id']}/read")
    assert response.json() == {"conversation_id": sent["conversation_id"], "unread": 0}
    assert unread(bob)["total"] == 1


@pytest.mark.parametrize("up_to", ["5", 1.5, True, -1, 2**70, [1]])
def test_mark_read_with_bad_up_to_is_validation_error(chat, up_to):
    response = chat["bob"].post(f"conversations/{chat['conv']}/read", {"up_to": up_to})
    assert_error(response, 400, "validation_error", "up_to")
    assert unread(chat["bob"])["total"] == 1


# --- unread arithmetic against a recount ---------------------------------------


def test_unread_matches_a_database_recount_after_every_operation(alice, bob, carol):
    everyone = (alice, bob, carol)
    a1 = alice.send(bob, "one")
    a2 = alice.send(bob, "two")
    a3 = alice.send(bob, "three")
    ab = a1["conversation_id"]
    assert_unread_matches_database(*everyone)
    # A user's own messages never count for them.
    assert alice.get("unread").json() == {"total": 0, "conversations": {}}
    assert bob.get("unread").json()["conversations"] == {str(ab): 3}

    b1 = bob.send(alice, "back")
    bob.send(alice, "again")
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json()["total"] == 3
    assert alice.get("unread").json()["total"] == 2

    # Read with up_to: everything received up to a2.
    assert read(bob, ab, a2["msg_id"]) == recount(bob, ab) == 1
    assert_unread_matches_database(*everyone)
    # An older up_to than what is already read changes nothing.
    assert read(bob, ab, a1["msg_id"]) == 1
    # up_to naming the reader's own message marks what was received before it.
    assert read(alice, ab, a3["msg_id"]) == recount(alice, ab) == 2
    assert_unread_matches_database(*everyone)

    # Recall of an unread message: it stops counting.
    recall(alice, a3)
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json() == {"total": 0, "conversations": {}}
    # Recall of a read message: nothing moves, and never below zero.
    recall(alice, a1)
    recall(alice, a1)  # recalling again is 204 and changes nothing
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json()["total"] == 0

    # A third user in both directions, then read everything.
    c1 = carol.send(alice, "hi alice")
    carol.send(bob, "hi bob")
    carol.send(bob, "still there?")
    bob.send(carol, "yes")
    alice.send(carol, "hey")
    assert_unread_matches_database(*everyone)
    assert read(alice, ab) == 0
    assert read(alice, c1["conversation_id"], c1["msg_id"]) == 0
    assert_unread_matches_database(*everyone)
    bc = next(cid for cid in conversation_ids_of(bob) if cid != ab)
    assert read(bob, bc) == 0
    # Reading an already read conversation again stays at zero.
    assert read(bob, bc) == 0
    assert read(bob, ab, 0) == 0
    assert_unread_matches_database(*everyone)

    # After everything, a recall by the other side of a message already read.
    recall(bob, b1)
    a4 = alice.send(bob, "new")
    recall(alice, a4)
    alice.send(bob, "newer")
    assert_unread_matches_database(*everyone)
    assert bob.get("unread").json() == {"total": 1, "conversations": {str(ab): 1}}


def test_unread_stays_exact_with_concurrent_sends_reads_and_recalls(alice, bob):
    """Both directions at once, with reads and recalls racing them."""
    ab = alice.send(bob, "start")["conversation_id"]
    bob.send(alice, "start too")
    errors: list[BaseException] = []
    recallable: list[dict] = []

    def run(action):
        try:
            action()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def alice_sends():
        for i in range(20):
            message = alice.send(bob, f"a{i}")
            if i % 4 == 0:
                recallable.append(message)

    def bob_sends():
        for i in range(20):
            bob.send(alice, f"b{i}")

    def bob_reads():
        for _ in range(12):
            read(bob, ab)

    def alice_reads_and_recalls():
        for _ in range(12):
            read(alice, ab)
            if recallable:
                recall(alice, recallable.pop())

    threads = [
        threading.Thread(target=run, args=(f,)) for f in (alice_sends, bob_sends, bob_reads, alice_reads_and_recalls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for message in recallable:
        recall(alice, message)
    assert_unread_matches_database(alice, bob)
    assert MessageRecord.objects.filter(session_id=ab).count() == 42


def test_counter_copies_are_the_pairs_asked_for_and_no_others(alice, bob, carol):
    """One query by user and conversation lists: the cross product's other rows must not come back."""
    from unread.services import counter_copies

    ab = alice.send(bob, "to bob")["conversation_id"]
    ac = alice.send(carol, "to carol")["conversation_id"]
    carol.send(alice, "back")
    bob.send(alice, "back")  # alice's counter of ab: in the cross product, not asked for
    copies = counter_copies([(ab, bob.id), (ac, alice.id)])
    assert {user: [(c.conversation_id, c.unread) for c in rows] for user, rows in copies.items()} == {
        bob.id: [(ab, 1)],
        alice.id: [(ac, 1)],
    }
    assert counter_copies([]) == {}


def test_the_unread_frames_total_follows_every_change_without_reading_every_counter(alice, bob, carol):
    """The frame's total is a maintained sum (unread/store.py): it moves with each counter and is rebuilt when lost."""
    from chat_project.common.redis_client import get_redis
    from messaging.rebuild import drop_structures
    from unread import store
    from unread.services import rebuild_unread, unread_frame

    sent = [alice.send(bob, f"a{n}") for n in range(3)]
    with_alice = sent[0]["conversation_id"]
    with_carol = carol.send(bob, "c1")["conversation_id"]
    carol.send(bob, "c2")

    def frame(conversation_id: int) -> tuple[int, int]:
        f = unread_frame(bob.id, conversation_id)
        return f["unread"], f["total"]

    assert frame(with_alice) == (3, 5) and frame(with_carol) == (2, 5)
    # A hash written before the total existed (or the key lost): made again from the hash.
    get_redis().delete(store.total_key(bob.id))
    assert frame(with_carol) == (2, 5)
    assert get_redis().get(store.total_key(bob.id)) == "5"
    # Summed again after a while: a writer that bypasses the script (an older version) is wrong only that long.
    assert 0 < get_redis().ttl(store.total_key(bob.id)) <= store.TOTAL_TTL_SECONDS
    get_redis().set(store.total_key(bob.id), 99, keepttl=True)  # what such a writer could leave
    get_redis().pexpire(store.total_key(bob.id), 1)
    time.sleep(0.01)
    assert frame(with_carol) == (2, 5)
    # Reads, a recall and new sends move it by each counter's change.
    read(bob, with_alice, sent[1]["msg_id"])
    assert frame(with_alice) == (1, 3)
    recall(carol, carol.send(bob, "c3"))
    alice.send(bob, "a3")
    assert frame(with_alice) == (2, 4) == (unread(bob)["conversations"][str(with_alice)], unread(bob)["total"])
    # Copies applied again (a re-run, a rebuild over a warm hash) count nothing twice.
    rebuild_unread(bob.id)
    rebuild_unread(bob.id)
    assert frame(with_carol) == (2, 4)
    # Dropped with the hash by rebuild_redis, and right after the rebuild.
    drop_structures()
    assert get_redis().get(store.total_key(bob.id)) is None
    assert frame(with_alice) == (2, 4)
    assert_unread_matches_database(bob)
