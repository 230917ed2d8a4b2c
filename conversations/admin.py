from django.contrib import admin

from .models import Conversation


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only: a conversation row exists because a message was sent; its messages,
    counters and both users' lists all refer to it."""

    list_display = ("id", "user_low", "user_high", "last_msg_id", "created_at")
    raw_id_fields = ("user_low", "user_high")
    search_fields = ("user_low__username", "user_high__username")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
