from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.api import path_id, query_cursor, query_limit
from profiles.serializers import ErrorSerializer

from . import services
from .serializers import ConversationPageSerializer, ConversationSerializer

CONVERSATIONS_DEFAULT_LIMIT = 20


class ConversationListView(APIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("limit", int, description="1..100, default 20"),
            OpenApiParameter("before", int, description="conversations whose last msg_id is older than this"),
        ],
        responses={200: ConversationPageSerializer},
    )
    def get(self, request):
        limit = query_limit(request, CONVERSATIONS_DEFAULT_LIMIT, 100)
        before = query_cursor(request, "before")
        return Response(services.list_conversations(request.user.pk, limit, before))


class ConversationView(APIView):
    @extend_schema(responses={200: ConversationSerializer, 404: ErrorSerializer})
    def get(self, request, conversation_id: str):
        conversation = services.get_conversation_for(request.user.pk, path_id(conversation_id))
        return Response(services.conversation_view(request.user.pk, conversation))
