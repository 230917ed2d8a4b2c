from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.api import json_body, path_id, query_cursor, query_limit
from chat_project.errors import InvalidInput
from profiles.serializers import ErrorSerializer

from . import history, offline, services
from .serializers import (
    MessagePageSerializer,
    MessageSerializer,
    OfflineAckSerializer,
    OfflineSerializer,
    SendSerializer,
    SyncPageSerializer,
)

MESSAGES_DEFAULT_LIMIT = 50
SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT = 500, 1000


class SendMessageView(APIView):
    @extend_schema(
        request=SendSerializer, responses={201: MessageSerializer, 200: MessageSerializer, 400: ErrorSerializer}
    )
    def post(self, request):
        body = json_body(request)
        if "to" not in body or "content" not in body:
            missing = {f: ["This field is required."] for f in ("to", "content") if f not in body}
            raise InvalidInput("Missing fields.", missing)
        result = services.send_message(request.user, body["to"], body["content"], body.get("client_msg_id"))
        return Response(result.message, status=201 if result.created else 200)


class MessageView(APIView):
    @extend_schema(responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer})
    def delete(self, request, msg_id: str):
        services.recall_message(request.user.pk, path_id(msg_id))
        return Response(status=204)


class ConversationMessagesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="1..100, default 50"),
            OpenApiParameter("before", int, description="newest `limit` older than this msg_id"),
            OpenApiParameter("after", int, description="oldest `limit` newer than this msg_id"),
        ],
        responses={200: MessagePageSerializer, 404: ErrorSerializer},
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
        parameters=[
            OpenApiParameter("since", int, description="0, a msg_id the client holds, or an earlier next_since"),
            OpenApiParameter("limit", int, description="1..1000, default 500"),
        ],
        responses={200: SyncPageSerializer},
    )
    def get(self, request):
        since = query_cursor(request, "since") or 0
        limit = query_limit(request, SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT)
        return Response(history.sync_messages(request.user.pk, since, limit))


class OfflineView(APIView):
    @extend_schema(responses={200: OfflineSerializer})
    def get(self, request):
        return Response(offline.offline_messages(request.user.pk))


class OfflineAckView(APIView):
    @extend_schema(request=OfflineAckSerializer, responses={204: None, 400: ErrorSerializer})
    def post(self, request):
        body = json_body(request)
        offline.ack_offline(request.user.pk, body.get("sender_id"), body.get("up_to"))
        return Response(status=204)
