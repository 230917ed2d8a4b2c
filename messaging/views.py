from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.api import json_body, path_id, query_cursor, query_limit
from chat_project.common.errors import InvalidInput
from chat_project.common.limits import MAX_CONTENT_CODE_POINTS, MAX_ID
from chat_project.common.schema import (
    MESSAGE_EXAMPLE,
    PEER_EXAMPLE,
    RETRY_AFTER,
    answers,
    cursor_param,
    id_param,
    limit_param,
    ok,
)
from unread.serializers import ReadResultSerializer

from . import editing, history, offline, reactions, reads, recall, search, sending
from .inputs import EDIT, MARK_READ, OFFLINE_ACK, REACTION, SEND
from .serializers import (
    EditSerializer,
    MarkReadSerializer,
    MessagePageSerializer,
    MessageSerializer,
    OfflineAckSerializer,
    OfflineSerializer,
    ReactionSerializer,
    SearchPageSerializer,
    SendSerializer,
    SyncPageSerializer,
    SyncPositionSerializer,
)

MESSAGES_DEFAULT_LIMIT = 50
SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT = 500, 1000
SEARCH_DEFAULT_LIMIT = 20
EDITED_EXAMPLE = {
    **MESSAGE_EXAMPLE,
    "content": "hi 👋 (edited)",
    "rev": 1042317399040,
    "edited_at": "2026-11-27T18:01:30.000Z",
}


class SendMessageView(APIView):
    @extend_schema(
        summary="Send a message",
        description="Stores the message durably, then delivers it (pushed to every socket of both users, or "
        "kept for `offline`/`sync`). Sending again with the same `client_msg_id` answers 200 with the first "
        "message and stores or delivers nothing new. Rate limited per user, REST and WebSocket together "
        "(`CHAT_SEND_RATE`, default 30 per 10 s). Version 1.2: `attachments` lists up to 10 of the sender's "
        "uploads (`POST attachments`) not yet part of another message; with attachments, `content` may be "
        '"". A repeat of a client_msg_id claims nothing: it answers the first message and its attachments.',
        request=SendSerializer,
        parameters=[RETRY_AFTER],
        responses=answers(
            {
                201: ok(MessageSerializer, "Accepted: the message will never be lost.", MESSAGE_EXAMPLE),
                200: ok(
                    MessageSerializer, "A repeat of an accepted client_msg_id: the first message.", MESSAGE_EXAMPLE
                ),
            },
            body=True,
            invalid="a field is missing or breaks its rule (empty or white-space content, U+0000, over "
            f"{MAX_CONTENT_CODE_POINTS} "
            "code points), the recipient is yourself, or `attachments` names more than 10, one twice, one "
            "that is not your upload or one already part of another message.",
            invalid_errors={"content": ["The message is empty."]},
            not_found="no such recipient, or a deactivated one (`to` 0 included).",
            rate_limited="The user sent more than the send rate allows.",
        ),
        examples=[
            OpenApiExample(
                "send",
                value={"to": 9, "content": "hi 👋", "client_msg_id": "5f0c9a7e-1c1e-4d55-9d0e-3f9b1a2c4d5e"},
                request_only=True,
            ),
            OpenApiExample(
                "send a photo",
                value={
                    "to": 9,
                    "content": "",
                    "client_msg_id": "7d2e1f0a-3b4c-4d5e-8f90-a1b2c3d4e5f6",
                    "attachments": [55],
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        result = sending.send_message(request.user.pk, SEND.parse(json_body(request)))
        return Response(result.message, status=201 if result.created else 200)


class MessageView(APIView):
    @extend_schema(
        summary="Recall a message",
        description="Only the sender, within the recall window (`CHAT_RECALL_WINDOW_SECONDS`, default 120 s). "
        'The message becomes `recalled` (content "") everywhere and both users get a `recalled` frame. '
        "Recalling a recalled message answers 204 again.",
        parameters=[id_param("msg_id", "the message's id")],
        responses=answers(
            {204: None},
            forbidden="the requester is the recipient, or the sender after the recall window (or a session "
            "request without its CSRF token).",
            not_found="no such message, or the requester does not take part in its conversation.",
        ),
    )
    def delete(self, request, msg_id: str):
        recall.recall_message(request.user.pk, path_id(msg_id))
        return Response(status=204)

    @extend_schema(
        summary="Edit a message",
        description="Only the sender, within the edit window (`CHAT_EDIT_WINDOW_SECONDS`, default 48 hours), "
        "and not once recalled. The content rules and the content filter of a send apply. Answers the Message "
        "with the new content, `edited_at` and a new `rev`; both users get a `changed` frame. The same content "
        "again answers 200 and changes nothing (no new rev). Earlier versions are kept for moderators only. "
        "Rate limited per user (`CHAT_EDIT_RATE`, default 30 per minute).",
        parameters=[id_param("msg_id", "the message's id"), RETRY_AFTER],
        request=EditSerializer,
        responses=answers(
            {200: ok(MessageSerializer, "The edited message.", EDITED_EXAMPLE)},
            body=True,
            invalid="`content` is missing or breaks the rules of a send (or holds a rejected word).",
            invalid_errors={"content": ["The message is empty."]},
            forbidden="the requester is the recipient, or the sender after the edit window, or the message is "
            "recalled (or a session request without its CSRF token).",
            not_found="no such message, or the requester does not take part in its conversation.",
            rate_limited="The user edited more than the edit rate allows.",
        ),
        examples=[OpenApiExample("edit", value={"content": "hi 👋 (edited)"}, request_only=True)],
    )
    def patch(self, request, msg_id: str):
        message_id = path_id(msg_id)
        return Response(editing.edit_message(request.user.pk, message_id, EDIT.parse(json_body(request))))


REACTED_EXAMPLE = {**MESSAGE_EXAMPLE, "rev": 1042317430272, "reactions": [{"user_id": 9, "emoji": "👍"}]}


class MessageReactionView(APIView):
    """The requester's reaction to a message (PROTOCOL.md 1.2): at most one per user and message."""

    @extend_schema(
        summary="Set my reaction to a message",
        description="Either participant; sets the requester's one reaction (a new one replaces it). Answers "
        "the Message with its `reactions` (ordered by user_id) and a new `rev`; both users get a `changed` "
        "frame. The same emoji again changes nothing. Rate limited per user (`CHAT_REACTION_RATE`, default "
        "60 per minute).",
        parameters=[id_param("msg_id", "the message's id"), RETRY_AFTER],
        request=ReactionSerializer,
        responses=answers(
            {200: ok(MessageSerializer, "The message with the reaction.", REACTED_EXAMPLE)},
            body=True,
            invalid="`emoji` is missing or not an emoji (1..8 code points, no letter, digit, ASCII punctuation "
            "or white space).",
            invalid_errors={"emoji": ["Not an emoji: letters, digits, punctuation and spaces are not."]},
            forbidden="the message is recalled (or a session request without its CSRF token).",
            not_found="no such message, or the requester does not take part in its conversation.",
            rate_limited="The user reacted more than the reaction rate allows.",
        ),
        examples=[OpenApiExample("thumbs up", value={"emoji": "👍"}, request_only=True)],
    )
    def put(self, request, msg_id: str):
        message_id = path_id(msg_id)
        emoji = REACTION.parse(json_body(request)).emoji
        return Response(reactions.set_reaction(request.user.pk, message_id, emoji))

    @extend_schema(
        summary="Remove my reaction from a message",
        description="Either participant; removes the requester's reaction (a body, if any, is ignored). "
        "Answers the Message with a new `rev`, and both users get a `changed` frame; removing a reaction that "
        "is not there changes nothing.",
        parameters=[id_param("msg_id", "the message's id"), RETRY_AFTER],
        responses=answers(
            {200: ok(MessageSerializer, "The message without the reaction.", MESSAGE_EXAMPLE)},
            forbidden="the message is recalled (or a session request without its CSRF token).",
            not_found="no such message, or the requester does not take part in its conversation.",
            rate_limited="The user reacted more than the reaction rate allows.",
        ),
    )
    def delete(self, request, msg_id: str):
        return Response(reactions.set_reaction(request.user.pk, path_id(msg_id), None))


class ConversationMessagesView(APIView):
    @extend_schema(
        summary="A conversation's messages",
        description="A page of messages, ascending by msg_id. No cursor: the newest `limit`; `before`: the "
        "newest `limit` older than it; `after`: the oldest `limit` newer than it. At most one of the two.",
        parameters=[
            id_param("conversation_id", "the conversation's id"),
            limit_param(MESSAGES_DEFAULT_LIMIT, 100),
            cursor_param("before", "the newest `limit` messages with a smaller msg_id"),
            cursor_param("after", "the oldest `limit` messages with a larger msg_id"),
        ],
        responses=answers(
            {200: ok(MessagePageSerializer, "A page of messages.", {"results": [MESSAGE_EXAMPLE], "has_more": False})},
            query=True,
            invalid="a malformed parameter, or both `before` and `after`.",
            invalid_errors={"non_field_errors": ["Use at most one of before and after."]},
            not_found="no such conversation, or the requester does not take part in it.",
        ),
    )
    def get(self, request, conversation_id: str):
        limit = query_limit(request, MESSAGES_DEFAULT_LIMIT, 100)
        before, after = query_cursor(request, "before"), query_cursor(request, "after")
        if before is not None and after is not None:
            raise InvalidInput(
                "Use at most one of before and after.", {"non_field_errors": ["Use at most one of before and after."]}
            )
        return Response(history.list_messages(request.user.pk, path_id(conversation_id), limit, before, after))


class SyncView(APIView):
    @extend_schema(
        summary="Catch up: every message new or changed since a cursor",
        description="Every message the user sent or received with rev > `since`, ascending by rev: new messages "
        "(rev = msg_id) and changed ones (recalled, edited, reactions; a fresh rev each time) in their current "
        "state. Replace the copy held under the same msg_id and keep ordering the chat by msg_id. `next_since` "
        "is the rev of the page's last message (or `since` when the page is empty): a user's revs are handed "
        "out in commit order, so nothing below it can still appear. Continue from `next_since`; a message may "
        "also reach you by push or `offline` (keep one copy per msg_id, the one with the largest rev). "
        "`has_more` true: call again at once. The full-page rule of protocol 1.1 (`has_more` true with "
        "`next_since` equal to `since`: keep the page, wait about a second, call again with the same `since`) "
        "never triggers on this server; clients that implement it lose nothing.",
        parameters=[
            cursor_param(
                "since", "0, an earlier `next_since`, or the `position` of `sync/position` (a rev, in commit order)"
            ),
            limit_param(SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT),
        ],
        responses=answers(
            {
                200: ok(
                    SyncPageSerializer,
                    "A page of messages.",
                    {"results": [MESSAGE_EXAMPLE], "has_more": False, "next_since": 1042317261824},
                )
            },
            query=True,
        ),
    )
    def get(self, request):
        since = query_cursor(request, "since") or 0
        limit = query_limit(request, SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT)
        return Response(history.sync_messages(request.user.pk, since, limit))


class SyncPositionView(APIView):
    @extend_schema(
        summary="Where a new device starts its sync",
        description="A cursor for `GET sync` that skips the history a new device does not need: take it first, "
        "then load the conversation list and the history pages you want, then call `sync?since=<position>`. "
        "Nothing in between is missed (some messages may come twice: keep one copy per msg_id).",
        responses=answers({200: ok(SyncPositionSerializer, "The cursor.", {"position": 1042317261824})}),
    )
    def get(self, request):
        return Response({"position": history.sync_position(request.user.pk)})


class SearchView(APIView):
    @extend_schema(
        summary="Search my messages",
        description="Messages of the user's own conversations whose current content contains every word of "
        "`q`, case-insensitively (text without spaces, as in Chinese or Japanese, matches any substring), "
        "newest first (version 1.2). Recalled messages never match; an edited one matches its new content "
        "only. Continue with `before=<next_before>` until it is null. Rate limited per user "
        "(`CHAT_SEARCH_RATE`, default 30 per minute).",
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": 100},
                required=True,
                description="1..100 code points, not only white space; every word must occur",
            ),
            OpenApiParameter(
                "conversation_id",
                {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID},
                description="only this conversation",
            ),
            cursor_param("before", "only messages with a smaller msg_id (the next_before of a page)"),
            limit_param(SEARCH_DEFAULT_LIMIT, 100),
            RETRY_AFTER,
        ],
        responses=answers(
            {
                200: ok(
                    SearchPageSerializer,
                    "The messages found, newest first.",
                    {"results": [MESSAGE_EXAMPLE], "next_before": None},
                )
            },
            query=True,
            invalid="`q` is missing, empty, only white space or over 100 code points, or a parameter is malformed.",
            invalid_errors={"q": ["Give the text to search for."]},
            not_found="`conversation_id` names no conversation of the requester.",
            rate_limited="The user searched more than the search rate allows.",
        ),
    )
    def get(self, request):
        conversation_id = query_cursor(request, "conversation_id")
        before = query_cursor(request, "before")
        limit = query_limit(request, SEARCH_DEFAULT_LIMIT, 100)
        q = request.query_params.get("q")
        return Response(search.search_messages(request.user.pk, q, conversation_id, before, limit))


class OfflineView(APIView):
    @extend_schema(
        summary="Messages received while offline",
        description="Messages that reached the user while no socket of theirs was connected, grouped by "
        "sender (groups by their oldest message, messages ascending); at most `CHAT_OFFLINE_PAGE` (1000) "
        "messages, the rest after an `offline/ack`.",
        responses=answers(
            {
                200: ok(
                    OfflineSerializer,
                    "The offline messages, grouped by sender.",
                    {"results": [{"sender": PEER_EXAMPLE, "messages": [MESSAGE_EXAMPLE]}]},
                )
            }
        ),
    )
    def get(self, request):
        return Response(offline.offline_messages(request.user.pk))


class OfflineAckView(APIView):
    @extend_schema(
        summary="Acknowledge offline messages",
        description="Clears one sender's offline entries up to `up_to` (both fields required).",
        request=OfflineAckSerializer,
        responses=answers(
            {204: None},
            body=True,
            invalid="`sender_id` or `up_to` is missing or not an integer id.",
            invalid_errors={"up_to": ["Must be an integer."]},
        ),
        examples=[OpenApiExample("ack", value={"sender_id": 9, "up_to": 1042317261824}, request_only=True)],
    )
    def post(self, request):
        body = json_body(request)
        offline.ack_offline(request.user.pk, OFFLINE_ACK.parse(body))
        return Response(status=204)


class MarkReadView(APIView):
    @extend_schema(
        summary="Mark a conversation read",
        description="Marks read every received message with msg_id <= `up_to` (omitted or null: everything). "
        "Every socket of the user gets an `unread` frame, the peer a `read` receipt.",
        parameters=[id_param("conversation_id", "the conversation's id")],
        request=MarkReadSerializer,
        responses=answers(
            {
                200: ok(
                    ReadResultSerializer, "The conversation's unread count now.", {"conversation_id": 45, "unread": 0}
                )
            },
            body=True,
            invalid="`up_to` is not an integer id.",
            invalid_errors={"up_to": ["Must be an integer."]},
            not_found="no such conversation, or the requester does not take part in it.",
        ),
        examples=[OpenApiExample("read up to a message", value={"up_to": 1042317261824}, request_only=True)],
    )
    def post(self, request, conversation_id: str):
        read = MARK_READ.parse(json_body(request))
        return Response(reads.mark_read(request.user.pk, path_id(conversation_id), read.up_to))
