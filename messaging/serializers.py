"""Shapes of the messaging endpoints, for the OpenAPI schema (PROTOCOL.md's Message).

The rules on request fields are the ones ``messaging.validation`` enforces.
"""

from django.core.validators import RegexValidator
from rest_framework import serializers

from chat_project.common.limits import MAX_CLIENT_MSG_ID, MAX_CONTENT_CODE_POINTS, MAX_ID
from chat_project.common.schema import MessageSerializer
from profiles.serializers import ProfileSerializer


class SendSerializer(serializers.Serializer):
    to = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="the recipient's user_id")
    content = serializers.CharField(
        min_length=1,
        max_length=MAX_CONTENT_CODE_POINTS,
        trim_whitespace=False,
        validators=[RegexValidator(r"\S")],
        help_text=f"1..{MAX_CONTENT_CODE_POINTS} code points, not only white space, no U+0000; "
        "stored and returned exactly as sent.",
    )
    client_msg_id = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=MAX_CLIENT_MSG_ID,
        help_text="Chosen by the client (a UUID is typical); the same one again returns the first message. "
        "Omitted or null: not deduplicated.",
    )


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="ascending by msg_id")
    has_more = serializers.BooleanField()


class SyncPageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="ascending by msg_id")
    has_more = serializers.BooleanField(help_text="true: call again at once with next_since")
    next_since = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        help_text="the `since` of the next call; never past a message still being written",
    )


class OfflineGroupSerializer(serializers.Serializer):
    sender = ProfileSerializer()
    messages = MessageSerializer(many=True, help_text="ascending by msg_id")


class OfflineSerializer(serializers.Serializer):
    results = OfflineGroupSerializer(many=True, help_text="one group per sender, ordered by their oldest message")


class OfflineAckSerializer(serializers.Serializer):
    sender_id = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    up_to = serializers.IntegerField(min_value=0, max_value=MAX_ID, help_text="clears that sender's entries up to it")
