"""Property tests (hypothesis) for the service layer, against the real database and Redis.

- Any Unicode content either round-trips exactly (stored, answered and read
  back unchanged) or is refused with validation_error; nothing else.
- Unread arithmetic under any interleaving of send, read, recall, edit and
  react never goes negative and always equals a recount from t_msg_record_list, in the
  database and in the Redis copy.
"""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_project.common.errors import ChatError, InvalidInput
from messaging import editing, reactions, recall, sending
from messaging.history import list_messages, sync_messages
from messaging.inputs import SEND, Edit, Send
from messaging.models import MessageRecord
from messaging.reads import mark_read
from profiles.services import register_user
from unread.models import UnreadCounter
from unread.services import unread_summary

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_names = itertools.count()


def fresh_user():
    user, _ = register_user(f"prop{next(_names)}", "correct-horse-battery", "")
    return user


@pytest.fixture
def pair(transactional_db):
    return fresh_user(), fresh_user()


@PROPERTY_SETTINGS
@given(
    content=st.text(max_size=60)
    # The edges: lone surrogates, NUL, white space only, emoji, line separators.
    | st.text(
        alphabet=st.sampled_from(["\ud800", "\udfff", "\x00", " ", "\t", "a", "👋", "\u2028", "\u00e9"]), max_size=8
    )
    | st.text(min_size=3990, max_size=4010, alphabet="xy")
)
def test_any_content_round_trips_exactly_or_is_refused_clearly(pair, content):
    alice, bob = pair
    try:
        result = sending.send_message(alice.pk, SEND.parse({"to": bob.pk, "content": content}))
    except InvalidInput as exc:
        assert exc.code == "validation_error"
        assert "content" in (exc.errors or {})
        return
    assert result.created
    assert result.message["content"] == content
    assert MessageRecord.objects.get(msg_id=result.message["msg_id"]).content == content


operation = st.one_of(
    st.tuples(st.just("send"), st.booleans()),
    st.tuples(st.just("read"), st.booleans(), st.none() | st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("recall"), st.integers(min_value=0, max_value=30)),
    # PROTOCOL.md 1.2: changes that give a message a new rev must not move any count.
    st.tuples(st.just("edit"), st.integers(min_value=0, max_value=30), st.sampled_from(["x", "y"])),
    st.tuples(st.just("react"), st.booleans(), st.integers(min_value=0, max_value=30), st.none() | st.just("👍")),
)


@PROPERTY_SETTINGS
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_unread_equals_the_recount_after_any_interleaving(transactional_db, operations):
    alice, bob = fresh_user(), fresh_user()
    users = {True: alice, False: bob}
    sent: list[dict] = []
    for op in operations:
        try:
            if op[0] == "send":
                sender, recipient = users[op[1]], users[not op[1]]
                sent.append(sending.send_message(sender.pk, Send(recipient.pk, f"m{len(sent)}", None)).message)
            elif op[0] == "read" and sent:
                up_to = None if op[2] is None else sent[op[2] % len(sent)]["msg_id"]
                mark_read(users[op[1]].pk, sent[0]["conversation_id"], up_to)
            elif op[0] == "recall" and sent:
                message = sent[op[1] % len(sent)]
                recall.recall_message(message["sender_id"], message["msg_id"])
            elif op[0] == "edit" and sent:
                message = sent[op[1] % len(sent)]
                editing.edit_message(message["sender_id"], message["msg_id"], Edit(op[2]))
            elif op[0] == "react" and sent:
                reactions.set_reaction(users[op[1]].pk, sent[op[2] % len(sent)]["msg_id"], op[3])
        except ChatError as exc:  # e.g. reading before any message exists
            assert exc.status < 500
        for user in (alice, bob):
            truth = MessageRecord.objects.filter(recipient_id=user.pk, is_read=False).count()
            counter = UnreadCounter.objects.filter(user_id=user.pk).first()
            stored = 0 if counter is None else counter.received - counter.read
            assert stored == truth >= 0
            assert unread_summary(user.pk)["total"] == truth
    if sent:
        # And sync by rev holds every message once, in its current state (the history's).
        page = sync_messages(alice.pk, 0, 1000)
        revs = [m["rev"] for m in page["results"]]
        assert revs == sorted(revs) and page["next_since"] == revs[-1]
        history = list_messages(alice.pk, sent[0]["conversation_id"], 100, None, None)["results"]
        assert sorted(page["results"], key=lambda m: m["msg_id"]) == history
