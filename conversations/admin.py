from django.contrib import admin

from chat_project.common.admin_base import ReadOnlyAdmin

from .models import Conversation


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    """Read-only: a conversation row exists because a message was sent; its messages,
    counters and both users' lists all refer to it."""

    list_display = ("id", "user_low", "user_high", "last_msg_id", "created_at")
    raw_id_fields = ("user_low", "user_high")
    search_fields = ("user_low__username", "user_high__username")
