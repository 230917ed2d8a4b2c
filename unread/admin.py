from django.contrib import admin

from .models import UnreadCounter


@admin.register(UnreadCounter)
class UnreadCounterAdmin(admin.ModelAdmin):
    list_display = ("conversation", "user", "received", "read", "version")
    raw_id_fields = ("conversation", "user")
    readonly_fields = ("conversation", "user", "received", "read", "last_read_msg_id", "version")
