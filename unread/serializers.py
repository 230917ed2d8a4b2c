"""Shapes of the unread endpoints, for the OpenAPI schema."""

from rest_framework import serializers

from chat_project.common.limits import MAX_ID


class UnreadSerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    conversations = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        help_text="conversation_id (as a string key) -> unread count; only non-zero counts",
    )

    class Meta:
        ref_name = "Unread"


class ReadResultSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    unread = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "ReadResult"
