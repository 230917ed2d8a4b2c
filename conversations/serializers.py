from rest_framework import serializers

from messaging.serializers import MessageSerializer
from profiles.serializers import ProfileSerializer


class ConversationSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    peer = ProfileSerializer()
    last_message = MessageSerializer()
    unread = serializers.IntegerField()


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationSerializer(many=True)
    next_before = serializers.IntegerField(allow_null=True)
