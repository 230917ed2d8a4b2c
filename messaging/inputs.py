"""What clients send to the messaging endpoints and frames, each declared once (chat_project/common/inputs.py).

REST views and the consumer parse with these; the OpenAPI schema shows the
request bodies through ``serializer()``. The WebSocket frames are described
in docs/websocket.md.
"""

from functools import partial
from typing import NamedTuple

from django.core.validators import RegexValidator
from rest_framework import serializers

from chat_project.common.checks import check_id, check_id_list
from chat_project.common.inputs import Field, Input
from chat_project.common.limits import MAX_CLIENT_MSG_ID, MAX_CONTENT_CODE_POINTS, MAX_ID, MAX_WATCHED_USERS

from .validation import (
    MAX_ATTACHMENTS,
    MAX_EMOJI_CODE_POINTS,
    check_attachment_ids,
    check_client_msg_id,
    check_content,
    check_emoji,
)


class Send(NamedTuple):
    to: int
    content: str
    client_msg_id: str | None
    reply_to: int | None = None
    # PROTOCOL.md 1.2: attachment ids, in the order the message shows them; () when none.
    attachments: tuple[int, ...] = ()


class Edit(NamedTuple):
    content: str


class Reaction(NamedTuple):
    emoji: str


class MarkRead(NamedTuple):
    up_to: int | None


class Read(NamedTuple):
    conversation_id: int
    up_to: int | None


class Typing(NamedTuple):
    conversation_id: int


class Watch(NamedTuple):
    user_ids: list[int]


class OfflineAck(NamedTuple):
    sender_id: int
    up_to: int


def _id_field(help_text: str = "", minimum: int = 1, **kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=minimum, max_value=MAX_ID, help_text=help_text, **kwargs)


def _conversation_id() -> Field:
    return Field(check_id, _id_field("the conversation's id"))


def _up_to() -> Field:
    return Field(
        partial(check_id, required=False),
        _id_field("omitted or null: everything", minimum=0, allow_null=True),
        required=False,
    )


def _content() -> Field:
    return Field(
        lambda _name, value: check_content(value),
        serializers.CharField(
            min_length=1,
            max_length=MAX_CONTENT_CODE_POINTS,
            trim_whitespace=False,
            validators=[RegexValidator(r"\S")],
            help_text=f"1..{MAX_CONTENT_CODE_POINTS} code points, not only white space, no U+0000; "
            "stored and returned exactly as sent.",
        ),
    )


def _send_content() -> Field:
    # "" passes here; ``_content_or_attachments`` then refuses it unless the send has attachments.
    return Field(
        lambda _name, value: check_content(value, may_be_empty=True),
        serializers.CharField(
            allow_blank=True,
            max_length=MAX_CONTENT_CODE_POINTS,
            trim_whitespace=False,
            validators=[RegexValidator(r"^$|\S")],
            help_text=f"1..{MAX_CONTENT_CODE_POINTS} code points, not only white space, no U+0000; "
            'stored and returned exactly as sent. "" only with attachments (version 1.2).',
        ),
    )


def _content_or_attachments(values: dict) -> None:
    if values["content"] == "" and not values["attachments"]:
        check_content("")  # the old rule and its error


SEND = Input(
    "Send",
    Send,
    combine=_content_or_attachments,
    combine_reads=("content", "attachments"),
    to=Field(check_id, _id_field("the recipient's user_id")),
    content=_send_content(),
    client_msg_id=Field(
        lambda _name, value: check_client_msg_id(value),
        serializers.CharField(
            allow_null=True,
            min_length=1,
            max_length=MAX_CLIENT_MSG_ID,
            help_text="Chosen by the client (a UUID is typical); the same one again returns the first message. "
            "Omitted or null: not deduplicated.",
        ),
        required=False,
    ),
    reply_to=Field(
        partial(check_id, required=False),
        _id_field(
            "PROTOCOL.md 1.2: the msg_id of a message of the same conversation to quote; omitted or null: none",
            allow_null=True,
        ),
        required=False,
    ),
    attachments=Field(
        check_attachment_ids,
        serializers.ListField(
            child=_id_field(),
            max_length=MAX_ATTACHMENTS,
            help_text=f"PROTOCOL.md 1.2: at most {MAX_ATTACHMENTS} ids of the sender's own uploads "
            "(POST attachments) that are not part of another message, each once; omitted or []: none. "
            "The Message lists them in upload order.",
        ),
        required=False,
        default=(),
    ),
)

# PATCH messages/{msg_id} (PROTOCOL.md 1.2): the content rules of a send.
EDIT = Input("Edit", Edit, content=_content())

# PUT messages/{msg_id}/reaction (PROTOCOL.md 1.2).
REACTION = Input(
    "Reaction",
    Reaction,
    emoji=Field(
        lambda _name, value: check_emoji(value),
        serializers.CharField(
            min_length=1,
            max_length=MAX_EMOJI_CODE_POINTS,
            trim_whitespace=False,
            help_text=f"1..{MAX_EMOJI_CODE_POINTS} code points with no letter, digit, ASCII punctuation or "
            'white space: "👍", "👍🏽" and "❤️" are emoji, "a" is not.',
        ),
    ),
)

# POST conversations/{id}/read (the id is in the path).
MARK_READ = Input("MarkRead", MarkRead, up_to=_up_to())

# Frames.
READ_FRAME = Input("ReadFrame", Read, conversation_id=_conversation_id(), up_to=_up_to())
TYPING_FRAME = Input("TypingFrame", Typing, conversation_id=_conversation_id())
WATCH_FRAME = Input(
    "WatchFrame",
    Watch,
    user_ids=Field(
        partial(check_id_list, max_items=MAX_WATCHED_USERS),
        serializers.ListField(child=_id_field(), max_length=MAX_WATCHED_USERS),
    ),
)

OFFLINE_ACK = Input(
    "OfflineAck",
    OfflineAck,
    sender_id=Field(check_id, _id_field(minimum=0)),
    up_to=Field(check_id, _id_field("clears that sender's entries up to it", minimum=0)),
)
