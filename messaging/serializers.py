"""Shapes of the messaging endpoints, for the OpenAPI schema (PROTOCOL.md's Message).

Request bodies come from their declarations in ``messaging.inputs``, which the
views and the consumer parse with.
"""

from rest_framework import serializers

from chat_project.common.limits import MAX_ID
from chat_project.common.schema import MessageSerializer
from profiles.serializers import ProfileSerializer

from .inputs import EDIT, MARK_READ, OFFLINE_ACK, REACTION, SEND

# Request bodies: generated from their one declaration (messaging/inputs.py).
SendSerializer = SEND.serializer()
EditSerializer = EDIT.serializer()
ReactionSerializer = REACTION.serializer()
OfflineAckSerializer = OFFLINE_ACK.serializer()
MarkReadSerializer = MARK_READ.serializer()


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="ascending by msg_id")
    has_more = serializers.BooleanField()


class SyncPageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="ascending by rev")
    has_more = serializers.BooleanField(help_text="true: call again at once with next_since")
    next_since = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        help_text="the `since` of the next call: the rev of the last result; never past a message or change "
        "still being written",
    )


class SearchPageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="newest first")
    next_before = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, allow_null=True, help_text="the `before` of the next page; null when none"
    )


class SyncPositionSerializer(serializers.Serializer):
    position = serializers.IntegerField(
        min_value=0, max_value=MAX_ID, help_text="a `since` for `GET sync`: 0 for a user with no message yet"
    )


class OfflineGroupSerializer(serializers.Serializer):
    sender = ProfileSerializer()
    messages = MessageSerializer(many=True, help_text="ascending by msg_id")


class OfflineSerializer(serializers.Serializer):
    results = OfflineGroupSerializer(many=True, help_text="one group per sender, ordered by their oldest message")
