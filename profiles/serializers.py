"""Shapes of the profile endpoints, for the OpenAPI schema (PROTOCOL.md's Profile).

The rules on request fields are the ones ``profiles.services`` enforces, so a
client generating requests from the schema gets them accepted.
"""

from django.core.validators import RegexValidator
from rest_framework import serializers

from chat_project.common.limits import MAX_ID, NICKNAME_MAX, PASSWORD_MAX, USERNAME_MAX
from chat_project.common.schema import ErrorSerializer  # noqa: F401  (imported from here by views)

PASSWORD_MIN = 8
AVATAR_URL_MAX = 500


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


class ProfileListSerializer(serializers.Serializer):
    results = ProfileSerializer(many=True, max_length=20)  # type: ignore[call-arg]  # many=True passes it on to ListSerializer


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(
        min_length=1,
        max_length=USERNAME_MAX,
        validators=[RegexValidator(r"^[\w.@+-]+$")],
        help_text="Letters, digits and @ . + - _ (Unicode letters and digits too); unique, case-insensitively.",
    )
    password = serializers.CharField(
        min_length=PASSWORD_MIN,
        max_length=PASSWORD_MAX,
        validators=[RegexValidator(r"[^0-9]")],
        help_text=f"{PASSWORD_MIN}..{PASSWORD_MAX} characters, not only digits, not a common password, "
        "not too close to the username; no U+0000.",
    )
    nickname = serializers.CharField(
        required=False, allow_blank=True, max_length=NICKNAME_MAX, help_text="Shown instead of the username."
    )


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; also `?token=` on the socket.")


class ProfileUpdateSerializer(serializers.Serializer):
    nickname = serializers.CharField(required=False, allow_blank=True, max_length=NICKNAME_MAX)
    avatar_url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=AVATAR_URL_MAX,
        validators=[RegexValidator(r"^(https?://\S+)?$")],
        help_text='An http(s) URL, or "" to clear it.',
    )
