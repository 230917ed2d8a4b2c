"""Shapes of the profile endpoints, for the OpenAPI schema (PROTOCOL.md's Profile).

The request bodies are generated from the declarations the views parse with
(``profiles.inputs``), so the schema shows the rules the server enforces and a
client generating requests from it gets them accepted.
"""

from rest_framework import serializers

from chat_project.common.limits import MAX_ID, NICKNAME_MAX, USERNAME_MAX
from chat_project.common.schema import ErrorSerializer  # noqa: F401  (imported from here by views)

from .inputs import AVATAR_URL_MAX, LOGIN, PROFILE_UPDATE, REGISTER


class ProfileSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    username = serializers.CharField(max_length=USERNAME_MAX)
    nickname = serializers.CharField(max_length=NICKNAME_MAX, allow_blank=True, help_text='"" when unset')
    avatar_url = serializers.CharField(max_length=AVATAR_URL_MAX, allow_blank=True, help_text='"" when unset')
    online = serializers.BooleanField(help_text="at least one socket of the user is registered")
    # Version 1.1.
    is_active = serializers.BooleanField(help_text="false once the account is deactivated (version 1.1)")
    last_seen = serializers.DateTimeField(
        allow_null=True,
        help_text="the last moment a socket of the user was registered; null while online or if never "
        "connected (version 1.1)",
    )
    # Version 1.2.
    blocked = serializers.BooleanField(
        help_text="true when the requesting user blocks this one; a user blocked either way is seen offline "
        "with last_seen null (version 1.2)"
    )


class ProfileListSerializer(serializers.Serializer):
    results = ProfileSerializer(many=True, max_length=20)  # type: ignore[call-arg]  # many=True passes it on to ListSerializer


class BlockListSerializer(serializers.Serializer):
    results = ProfileSerializer(many=True, help_text="the users the requester blocks, in the order blocked")


class TokenSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; also `?token=` on the socket.")


# The request bodies: generated from the declarations the views parse with (profiles/inputs.py).
RegisterSerializer = REGISTER.serializer()
LoginSerializer = LOGIN.serializer()
ProfileUpdateSerializer = PROFILE_UPDATE.serializer()
