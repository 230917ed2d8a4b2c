from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.api import json_body, path_id
from messaging.validation import check_id
from profiles.serializers import ErrorSerializer

from . import services


class UnreadView(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "Unread",
                {
                    "total": serializers.IntegerField(),
                    "conversations": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        }
    )
    def get(self, request):
        return Response(services.unread_summary(request.user.pk))


class MarkReadView(APIView):
    @extend_schema(
        request=inline_serializer("MarkRead", {"up_to": serializers.IntegerField(required=False)}),
        responses={
            200: inline_serializer(
                "ReadResult", {"conversation_id": serializers.IntegerField(), "unread": serializers.IntegerField()}
            ),
            404: ErrorSerializer,
        },
    )
    def post(self, request, conversation_id: str):
        up_to = check_id("up_to", json_body(request).get("up_to"), required=False)
        return Response(services.mark_read(request.user.pk, path_id(conversation_id), up_to))
