from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.api import json_body, path_id
from chat_project.common.client_ip import client_ip
from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate
from chat_project.common.schema import PEER_EXAMPLE, PROFILE_EXAMPLE, RETRY_AFTER, answers, id_param, ok

from . import accounts, blocks, services
from .inputs import LOGIN, REGISTER, parse_profile_update
from .serializers import (
    BlockListSerializer,
    ErrorSerializer,
    LoginSerializer,
    ProfileListSerializer,
    ProfileSerializer,
    ProfileUpdateSerializer,
    RegisterSerializer,
    TokenSerializer,
)


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Create an account",
        description="Registers a user and answers their API token, as `auth/token` would. "
        "Rate limited per client address (`CHAT_REGISTER_RATE`, default 10 an hour).",
        request=RegisterSerializer,
        parameters=[RETRY_AFTER],
        responses=answers(
            {201: ok(TokenSerializer, "The new user's id and token.", {"user_id": 7, "token": "9944b09199c62bcf9418"})},
            auth=False,
            body=True,
            invalid="a field breaks its rule, the username is taken, or the password is rejected.",
            invalid_errors={"username": ["This username is taken."]},
            rate_limited="Too many registrations from this address.",
        ),
        examples=[
            OpenApiExample(
                "register",
                value={"username": "alice", "password": "correct-horse-battery", "nickname": "Alice"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        # The attempt counts before the body is read (profiles/accounts.py).
        user, token = accounts.register(lambda: REGISTER.parse(json_body(request)), client_ip=client_ip(request))
        return Response({"user_id": user.pk, "token": token}, status=201)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Log in: get the API token",
        description="Answers the user's token (the same one every time until it is revoked). "
        "Rate limited per client address (`CHAT_LOGIN_RATE`, default 20 a minute).",
        request=LoginSerializer,
        parameters=[RETRY_AFTER],
        responses=answers(
            {200: ok(TokenSerializer, "The user's id and token.", {"user_id": 7, "token": "9944b09199c62bcf9418"})},
            auth=False,
            body=True,
            invalid="username or password is missing, not a string, or holds an unpaired surrogate.",
            invalid_errors={"password": ["This field is required."]},
            unauthenticated="wrong username or password, or a deactivated account.",
            rate_limited="Too many attempts from this address.",
        ),
        examples=[
            OpenApiExample(
                "log in", value={"username": "alice", "password": "correct-horse-battery"}, request_only=True
            )
        ],
    )
    def post(self, request):
        # The attempt counts before the body is read; a deactivated account is a wrong login here.
        user = accounts.log_in(request, lambda: LOGIN.parse(json_body(request)), client_ip=client_ip(request))
        return Response({"user_id": user.pk, "token": services.token_for(user)})


class MeView(APIView):
    @extend_schema(
        summary="My profile",
        description="The requesting user's Profile.",
        responses=answers({200: ok(ProfileSerializer, "The requesting user's Profile.", PROFILE_EXAMPLE)}),
    )
    def get(self, request):
        return Response(services.profile_of(request.user))

    @extend_schema(
        summary="Change my nickname or avatar",
        description='Changes the fields given (others stay); `avatar_url` "" clears the avatar. Watchers of the '
        "user get a `profile` frame.",
        request=ProfileUpdateSerializer,
        responses=answers(
            {200: ok(ProfileSerializer, "The updated Profile.", PROFILE_EXAMPLE)},
            body=True,
            invalid="a field is not a string, too long, or not an http(s) URL.",
            invalid_errors={"avatar_url": ["Must be an http(s) URL."]},
        ),
        examples=[
            OpenApiExample(
                "new nickname and avatar",
                value={"nickname": "Alice", "avatar_url": "https://example.com/alice.png"},
                request_only=True,
            )
        ],
    )
    def patch(self, request):
        changes = parse_profile_update(json_body(request), lambda: request.user.avatar_url)
        return Response(services.update_profile(request.user, changes))


class UserView(APIView):
    @extend_schema(
        summary="A user's profile",
        description="Any active user's Profile; a deactivated user's only to users who share a conversation with them.",
        parameters=[id_param("user_id", "the user's id")],
        responses=answers(
            {200: ok(ProfileSerializer, "The user's Profile.", PEER_EXAMPLE)},
            not_found="no such user (or deactivated, and no conversation with the requester).",
        ),
    )
    def get(self, request, user_id: str):
        viewer = request.user.pk
        profile = services.get_visible_profile(viewer, path_id(user_id))
        return Response(blocks.profile_for(viewer, profile, blocks.block_relations(viewer)))


class UserSearchView(APIView):
    @extend_schema(
        operation_id="users_search",
        summary="Find users",
        description="Up to 20 active users whose username or nickname starts with `q` (case-insensitive), "
        "by username. An empty `q` finds nobody.",
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": 150},
                description="username or nickname prefix, case-insensitive",
                examples=[OpenApiExample("prefix", value="ali")],
            )
        ],
        responses=answers(
            {200: ok(ProfileListSerializer, "The users found.", {"results": [PROFILE_EXAMPLE]})},
            invalid="`q` is too long or holds U+0000.",
            invalid_errors={"q": ["Invalid search text."]},
        ),
    )
    def get(self, request):
        found = services.search_users(request.query_params.get("q", ""))
        if found:
            relations = blocks.block_relations(request.user.pk)
            found = [blocks.profile_for(request.user.pk, profile, relations) for profile in found]
        return Response({"results": found})


# --- Blocking (PROTOCOL.md 1.2, profiles/blocks.py) ----------------------------


# Block and unblock answer alike (204, or the same errors).
BLOCK_ANSWERS = answers(
    {204: None},
    invalid="the user is the requester.",
    invalid_errors={"user_id": ["You cannot block yourself."]},
    not_found="no such user (or deactivated, and no conversation with the requester).",
    rate_limited="The user blocked or unblocked more than the block rate allows.",
)


class BlockView(APIView):
    @extend_schema(
        summary="Block a user",
        description="Idempotent. While either of two users blocks the other, sends between them (either way) "
        "are 403 `forbidden`, typing, presence and profile frames between them are withheld (each sees the "
        "other offline, `last_seen` null); their history stays readable. Rate limited per user "
        "(`CHAT_BLOCK_RATE`, default 30 per minute, blocks and unblocks together).",
        parameters=[id_param("user_id", "the user's id"), RETRY_AFTER],
        request=None,
        responses=BLOCK_ANSWERS,
    )
    def put(self, request, user_id: str):
        blocks.block_user(request.user.pk, path_id(user_id))
        return Response(status=204)

    @extend_schema(
        summary="Unblock a user",
        description="Idempotent: unblocking a user not blocked answers 204 too. Rate limited with blocks.",
        parameters=[id_param("user_id", "the user's id"), RETRY_AFTER],
        responses=BLOCK_ANSWERS,
    )
    def delete(self, request, user_id: str):
        blocks.unblock_user(request.user.pk, path_id(user_id))
        return Response(status=204)


class BlockListView(APIView):
    @extend_schema(
        summary="The users I block",
        description="Their Profiles, in the order they were blocked (`blocked` true, seen offline).",
        responses=answers(
            {
                200: ok(
                    BlockListSerializer,
                    "The users blocked.",
                    {"results": [{**PEER_EXAMPLE, "last_seen": None, "blocked": True}]},
                )
            }
        ),
    )
    def get(self, request):
        return Response({"results": blocks.list_blocks(request.user.pk)})


# --- Avatar upload (profiles/avatars.py) ---------------------------------------


class AvatarUploadSerializer(serializers.Serializer):
    avatar = serializers.FileField(
        help_text="The image: PNG, JPEG, GIF or WebP (checked from its content, not its name or content type), "
        "at most `CHAT_AVATAR_MAX_BYTES` (2 MiB) and 20 megapixels."
    )

    class Meta:
        ref_name = "AvatarUpload"


def _avatar_error(status: int, code: str, description: str, detail: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=f"{code}: {description}",
        examples=[
            OpenApiExample(code, value={"code": code, "detail": detail}, status_codes=[status], response_only=True)
        ],
    )


def _avatar_answers() -> dict:
    result = answers(
        {
            200: ok(
                ProfileSerializer,
                "The updated Profile; `avatar_url` is the stored image's URL.",
                {**PROFILE_EXAMPLE, "avatar_url": "/media/avatars/7/q3Jx0bW2tE1mZk9RfA8cLpVn.png"},
            )
        },
        body=True,
        invalid="no `avatar` file, a file that is not a PNG, JPEG, GIF or WebP image (whatever its name or "
        "content type says), a damaged image, or one over 20 megapixels.",
        invalid_errors={"avatar": ["Not a PNG, JPEG, GIF or WebP image."]},
        rate_limited="Too many avatar uploads by this user.",
    )
    result[413] = _avatar_error(
        413,
        "payload_too_large",
        "the file is over `CHAT_AVATAR_MAX_BYTES` (2 MiB), or the whole body over that plus 64 KiB.",
        "The avatar is larger than 2097152 bytes.",
    )
    result[415] = _avatar_error(
        415,
        "unsupported_media_type",
        "the body is not `Content-Type: multipart/form-data`.",
        'Unsupported media type "application/json" in request.',
    )
    return result


class AvatarView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="me_avatar_upload",
        summary="Upload my avatar",
        description="Stores an image as the requesting user's avatar and answers the updated Profile, as "
        "`PATCH me` does (watchers of the user get a `profile` frame). Send `multipart/form-data` with one "
        "file field `avatar`: a PNG, JPEG, GIF or WebP image (the server checks the content itself), at most "
        "`CHAT_AVATAR_MAX_BYTES` (2 MiB) and 20 megapixels. The server keeps the first frame of an animation, "
        "drops every piece of metadata (EXIF, location, ICC profile, comments), shrinks the image to fit "
        "256x256 and stores it as PNG; `avatar_url` becomes that file's URL (under `/media/avatars/`, relative "
        "to this server unless `CHAT_MEDIA_URL` names another host). The previous uploaded avatar is deleted. "
        "Rate limited per user (`CHAT_AVATAR_RATE`, default 10 an hour).",
        request={
            "multipart/form-data": OpenApiRequest(
                AvatarUploadSerializer,
                encoding={"avatar": {"contentType": "image/png, image/jpeg, image/gif, image/webp"}},
            )
        },
        parameters=[RETRY_AFTER],
        responses=_avatar_answers(),
        examples=[
            OpenApiExample(
                "a PNG file",
                value={"avatar": "(the bytes of alice.png)"},
                request_only=True,
                media_type="multipart/form-data",
            )
        ],
    )
    def post(self, request):
        check_rate("avatar", f"u{request.user.pk}", settings.CHAT_AVATAR_RATE)
        try:
            files = request.FILES.getlist("avatar")
        except SuspiciousOperation:  # too many parts or fields: Django's multipart limits
            raise InvalidInput.field("avatar", "Malformed multipart body.") from None
        if not files:
            raise InvalidInput.field("avatar", "Send the image as the file field `avatar` (multipart/form-data).")
        if len(files) > 1:
            raise InvalidInput.field("avatar", "Send one file.")
        return Response(services.upload_avatar(request.user, files[0]))
