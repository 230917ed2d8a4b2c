from django.contrib import admin, messages

from chat_project.errors import ChatError

from .models import MessageRecord, MessageStatus, SensitiveWord


@admin.register(SensitiveWord)
class SensitiveWordAdmin(admin.ModelAdmin):
    list_display = ("word", "action", "created_at")
    list_filter = ("action",)
    search_fields = ("word",)


@admin.register(MessageRecord)
class MessageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "msg_id",
        "session",
        "sender",
        "recipient",
        "short_content",
        "record_status",
        "is_read",
        "created_at",
    )
    list_filter = ("record_status", "is_read", "offline", "fan_out_done")
    search_fields = ("=msg_id", "sender__username", "recipient__username", "content")
    raw_id_fields = ("session", "sender", "recipient")
    readonly_fields = [f.name for f in MessageRecord._meta.fields]
    actions = ["recall_selected"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="content")
    def short_content(self, record: MessageRecord) -> str:
        return record.content[:80]

    @admin.action(description="Recall the selected messages (moderation)")
    def recall_selected(self, request, queryset) -> None:
        from .services import moderate_recall

        done = 0
        for record in queryset.exclude(record_status=MessageStatus.RECALLED):
            try:
                moderate_recall(record.msg_id)
                done += 1
            except ChatError as exc:
                self.message_user(request, f"{record.msg_id}: {exc.detail}", messages.ERROR)
        self.message_user(request, f"Recalled {done} message(s).")
