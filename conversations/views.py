from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.api import path_id, query_cursor, query_limit
from chat_project.common.schema import CONVERSATION_EXAMPLE, answers, cursor_param, id_param, limit_param, ok

from . import services
from .serializers import ConversationPageSerializer, ConversationSerializer

CONVERSATIONS_DEFAULT_LIMIT = 20


class ConversationListView(APIView):
    @extend_schema(
        operation_id="conversations_list",
        summary="My conversations, newest first",
        description="A page of the user's conversations, newest last message first. Continue with "
        "`before=<next_before>` until `next_before` is null.",
        parameters=[
            limit_param(CONVERSATIONS_DEFAULT_LIMIT, 100),
            cursor_param("before", "only conversations whose last message's msg_id is smaller than this"),
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
        return Response(services.list_conversations(request.user.pk, limit, before))


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
