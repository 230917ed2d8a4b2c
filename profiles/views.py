from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.api import client_address, json_body, path_id
from chat_project.errors import ChatError, InvalidInput
from chat_project.ratelimit import check_rate
from chat_project.text import has_unpaired_surrogate

from . import services
from .serializers import (
    ErrorSerializer,
    LoginSerializer,
    ProfileListSerializer,
    ProfileSerializer,
    ProfileUpdateSerializer,
    RegisterSerializer,
    TokenSerializer,
)


class NotAuthenticated(ChatError):
    code = "not_authenticated"
    status = 401
    default_detail = "Wrong username or password."


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: TokenSerializer, 400: ErrorSerializer})
    def post(self, request):
        check_rate("register", client_address(request), settings.CHAT_REGISTER_RATE)
        body = json_body(request)
        user, token = services.register_user(body.get("username"), body.get("password"), body.get("nickname", ""))
        return Response({"user_id": user.pk, "token": token}, status=201)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer, 401: ErrorSerializer})
    def post(self, request):
        check_rate("login", client_address(request), settings.CHAT_LOGIN_RATE)
        body = json_body(request)
        username, password = body.get("username"), body.get("password")
        errors = {f: ["This field is required."] for f in ("username", "password") if not isinstance(body.get(f), str)}
        if errors:
            raise InvalidInput("Username and password are required.", errors)
        errors = {
            f: ["Must not contain unpaired surrogates."]
            for f, value in (("username", username), ("password", password))
            if has_unpaired_surrogate(value)
        }
        if errors:
            raise InvalidInput("Invalid characters.", errors)
        user = authenticate(request, username=username, password=password)
        if user is None:
            raise NotAuthenticated()
        return Response({"user_id": user.pk, "token": services.token_for(user)})


class MeView(APIView):
    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request):
        return Response(services.profile_of(request.user))

    @extend_schema(request=ProfileUpdateSerializer, responses={200: ProfileSerializer, 400: ErrorSerializer})
    def patch(self, request):
        return Response(services.update_profile(request.user, json_body(request)))


class UserView(APIView):
    @extend_schema(responses={200: ProfileSerializer, 404: ErrorSerializer})
    def get(self, request, user_id: str):
        return Response(services.get_profile(path_id(user_id)))


class UserSearchView(APIView):
    @extend_schema(
        operation_id="users_search",
        parameters=[OpenApiParameter("q", str, description="username or nickname prefix, case-insensitive")],
        responses={200: ProfileListSerializer},
    )
    def get(self, request):
        return Response({"results": services.search_users(request.query_params.get("q", ""))})
