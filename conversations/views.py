from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.api import json_body, path_id, query_cursor, query_limit
from chat_project.common.errors import InvalidInput
from chat_project.common.schema import (
    CONVERSATION_EXAMPLE,
    RETRY_AFTER,
    answers,
    cursor_param,
    id_param,
    limit_param,
    ok,
)

from . import services
from .inputs import CONVERSATION_SETTINGS
from .serializers import ConversationPageSerializer, ConversationSerializer, ConversationSettingsSerializer

CONVERSATIONS_DEFAULT_LIMIT = 20


class ConversationListView(APIView):
    @extend_schema(
        operation_id="conversations_list",
        summary="My conversations, newest first",
        description="A page of the user's conversations, newest last message first. Continue with "
        "`before=<next_before>` until `next_before` is null. Version 1.2: without `before`, the pinned "
        "conversations come first (newest first, in addition to `limit` others); `before` pages through the "
        "unpinned ones. Archived conversations are left out; `archived=true` lists only them.",
        parameters=[
            limit_param(CONVERSATIONS_DEFAULT_LIMIT, 100),
            cursor_param("before", "only conversations whose last message's msg_id is smaller than this"),
            OpenApiParameter(
                "archived",
                {"type": "string", "enum": ["true", "false"]},
                description="true: only the archived conversations (version 1.2); false or omitted: the others",
            ),
        ],
        responses=answers(
            {
                200: ok(
                    ConversationPageSerializer,
                    "A page of conversations.",
                    {"results": [CONVERSATION_EXAMPLE], "next_before": None},
                )
            },
            query=True,
        ),
    )
    def get(self, request):
        limit = query_limit(request, CONVERSATIONS_DEFAULT_LIMIT, 100)
        before = query_cursor(request, "before")
        archived = _query_flag(request, "archived")
        return Response(services.list_conversations(request.user.pk, limit, before, archived))


def _query_flag(request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise InvalidInput.field(name, "Must be true or false.")


class ConversationView(APIView):
    @extend_schema(
        summary="One conversation",
        description="The conversation as the requesting user sees it (peer, last message, unread count).",
        parameters=[id_param("conversation_id", "the conversation's id")],
        responses=answers(
            {200: ok(ConversationSerializer, "The conversation.", CONVERSATION_EXAMPLE)},
            not_found="no such conversation, or the requester does not take part in it.",
        ),
    )
    def get(self, request, conversation_id: str):
        conversation = services.get_conversation_for(request.user.pk, path_id(conversation_id))
        return Response(services.conversation_view(request.user.pk, conversation))

    @extend_schema(
        summary="Change my settings of a conversation",
        description="Any of `muted`, `pinned`, `archived` (version 1.2); each setting is the requesting "
        "user's alone. At most 5 conversations may be pinned. A new message does not unarchive a "
        "conversation; muted changes no count or frame. Rate limited per user "
        "(`CHAT_CONVERSATION_SETTINGS_RATE`, default 60 per minute).",
        parameters=[id_param("conversation_id", "the conversation's id"), RETRY_AFTER],
        request=ConversationSettingsSerializer,
        responses=answers(
            {200: ok(ConversationSerializer, "The conversation with the new settings.", CONVERSATION_EXAMPLE)},
            body=True,
            invalid="a setting that is not a boolean, or a sixth pinned conversation.",
            invalid_errors={"pinned": ["At most 5 conversations can be pinned."]},
            not_found="no such conversation, or the requester does not take part in it.",
            rate_limited="The user changed settings more than the settings rate allows.",
        ),
        examples=[OpenApiExample("pin", value={"pinned": True}, request_only=True)],
    )
    def patch(self, request, conversation_id: str):
        changes = CONVERSATION_SETTINGS.parse(json_body(request))
        return Response(services.update_conversation(request.user.pk, path_id(conversation_id), changes))


class ConversationWithView(APIView):
    """PROTOCOL.md 1.1: find the conversation with a user without paging the list."""

    @extend_schema(
        operation_id="conversations_with_user",
        summary="The conversation with one user",
        description="The conversation with `user_id` as the requesting user sees it (version 1.1).",
        parameters=[id_param("user_id", "the other user")],
        responses=answers(
            {200: ok(ConversationSerializer, "The conversation.", CONVERSATION_EXAMPLE)},
            not_found="no message was exchanged with this user yet, the user is unknown, or it is yourself.",
        ),
    )
    def get(self, request, user_id: str):
        conversation = services.get_conversation_with(request.user.pk, path_id(user_id))
        return Response(services.conversation_view(request.user.pk, conversation))
