"""Shapes of the messaging endpoints, for the OpenAPI schema (PROTOCOL.md's Message)."""

from rest_framework import serializers

from profiles.serializers import ProfileSerializer


class MessageSerializer(serializers.Serializer):
    msg_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    recipient_id = serializers.IntegerField()
    content = serializers.CharField(help_text='"" when recalled')
    client_msg_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["normal", "recalled"])


class SendSerializer(serializers.Serializer):
    to = serializers.IntegerField()
    content = serializers.CharField(help_text="1..4000 code points, not only white space")
    client_msg_id = serializers.CharField(required=False, max_length=64)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()


class SyncPageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()
    next_since = serializers.IntegerField()


class OfflineGroupSerializer(serializers.Serializer):
    sender = ProfileSerializer()
    messages = MessageSerializer(many=True)


class OfflineSerializer(serializers.Serializer):
    results = OfflineGroupSerializer(many=True)


class OfflineAckSerializer(serializers.Serializer):
    sender_id = serializers.IntegerField()
    up_to = serializers.IntegerField()
