from django.contrib import admin

from chat_project.common.admin_base import ReadOnlyAdmin

from .models import UnreadCounter


@admin.register(UnreadCounter)
class UnreadCounterAdmin(ReadOnlyAdmin):
    """Read-only: the counters are derived from the message rows and change only with them
    (send, mark-read, recall), so a hand edit or a deletion would make the counts wrong."""

    list_display = ("conversation", "user", "received", "read", "last_read_msg_id", "version")
    raw_id_fields = ("conversation", "user")
    search_fields = ("user__username",)
