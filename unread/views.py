from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.api import json_body, path_id
from chat_project.schema import answers, id_param, ok
from messaging.validation import check_id

from . import services
from .serializers import MarkReadSerializer, ReadResultSerializer, UnreadSerializer


class UnreadView(APIView):
    @extend_schema(
        summary="My unread counts",
        description="The total and the non-zero count of each conversation (keys are conversation ids as "
        "strings). A user's own messages never count.",
        responses=answers(
            {200: ok(UnreadSerializer, "The unread counts.", {"total": 3, "conversations": {"45": 2, "46": 1}})}
        ),
    )
    def get(self, request):
        return Response(services.unread_summary(request.user.pk))


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
        up_to = check_id("up_to", json_body(request).get("up_to"), required=False)
        return Response(services.mark_read(request.user.pk, path_id(conversation_id), up_to))
