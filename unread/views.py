from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.schema import answers, ok

from . import services
from .serializers import UnreadSerializer


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
