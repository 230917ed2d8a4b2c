from django.contrib import admin

from chat_project.common.admin_base import ReadOnlyAdmin

from .models import Conversation, ConversationSetting


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    """Read-only: a conversation row exists because a message was sent; its messages,
    counters and both users' lists all refer to it."""

    list_display = ("id", "user_low", "user_high", "last_msg_id", "created_at")
    raw_id_fields = ("user_low", "user_high")
    search_fields = ("user_low__username", "user_high__username")


@admin.register(ConversationSetting)
class ConversationSettingAdmin(ReadOnlyAdmin):
    """Read-only: each user's muted, pinned and archived (PROTOCOL.md 1.2); only the user changes them."""

    list_display = ("conversation", "user", "muted", "pinned", "archived")
    list_filter = ("muted", "pinned", "archived")
    raw_id_fields = ("conversation", "user")
    search_fields = ("user__username",)
