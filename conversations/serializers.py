"""Shapes of the conversation endpoints, for the OpenAPI schema (PROTOCOL.md's Conversation)."""

from rest_framework import serializers

from chat_project.common.limits import MAX_ID
from chat_project.common.schema import MessageSerializer
from profiles.serializers import ProfileSerializer

from .inputs import CONVERSATION_SETTINGS


class ConversationSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="the same for both users")
    peer = ProfileSerializer(help_text="the other user")
    last_message = MessageSerializer()
    unread = serializers.IntegerField(min_value=0, help_text="messages received and not yet read")
    # Version 1.1.
    peer_read_up_to = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        allow_null=True,
        help_text="the largest msg_id of the requesting user's own messages here that the peer has read; "
        "null when none (version 1.1)",
    )
    # Version 1.2.
    blocked = serializers.BooleanField(help_text="either of the two users blocks the other (version 1.2)")
    muted = serializers.BooleanField(help_text="the requester muted it (version 1.2)")
    pinned = serializers.BooleanField(help_text="the requester pinned it (version 1.2)")
    archived = serializers.BooleanField(help_text="the requester archived it (version 1.2)")


# PATCH conversations/{id}: generated from its one declaration (conversations/inputs.py).
ConversationSettingsSerializer = CONVERSATION_SETTINGS.serializer()


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationSerializer(many=True, help_text="newest last message first")
    next_before = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, allow_null=True, help_text="the `before` of the next page; null when none"
    )
