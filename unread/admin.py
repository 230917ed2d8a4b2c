from django.contrib import admin

from .models import UnreadCounter


@admin.register(UnreadCounter)
class UnreadCounterAdmin(admin.ModelAdmin):
    """Read-only: the counters are derived from the message rows and change only with them
    (send, mark-read, recall), so a hand edit or a deletion would make the counts wrong."""

    list_display = ("conversation", "user", "received", "read", "last_read_msg_id", "version")
    raw_id_fields = ("conversation", "user")
    search_fields = ("user__username",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
