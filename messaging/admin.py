from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.http import FileResponse, Http404, HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html

from chat_project.common.admin_base import ReadOnlyAdmin
from chat_project.common.errors import ChatError
from chat_project.common.images import SAFE_FILE_HEADERS

from . import attachments
from .models import Attachment, MessageRecord, MessageStatus, MessageVersion, SensitiveWord
from .recall import moderate_recall


class AttachmentInline(admin.TabularInline):
    """A message's attachments on its change page: what they are, and a link to the bytes (download only)."""

    model = Attachment
    fk_name = "message"
    fields = ("name", "size", "kind", "content_type", "width", "height", "download")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="file")
    def download(self, row: Attachment) -> str:
        url = reverse("admin:messaging_attachment_file", args=[row.pk])
        return format_html('<a href="{}">download</a>', url)


@admin.register(SensitiveWord)
class SensitiveWordAdmin(admin.ModelAdmin):
    list_display = ("word", "action", "created_at")
    list_filter = ("action",)
    search_fields = ("word",)


class MessageVersionInline(admin.TabularInline):
    """The earlier contents of an edited message (PROTOCOL.md 1.2), oldest first; read-only."""

    model = MessageVersion
    fields = ("replaced_at", "content")
    readonly_fields = ("replaced_at", "content")
    extra = 0
    can_delete = False
    verbose_name = "earlier version"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MessageRecord)
class MessageRecordAdmin(admin.ModelAdmin):
    """Moderators read messages and recall them; nobody edits or deletes a record here.

    Deleting a row would take the message out of both users' history while
    the unread counters, conversation lists and offline lists still count it,
    so there is no delete permission at all: the moderation tool is the
    recall action, which goes through the same service as a sender's recall
    and is written to the admin log (the message's History page).
    """

    list_display = (
        "msg_id",
        "session",
        "sender",
        "recipient",
        "short_content",
        "record_status",
        "recalled_by",
        "is_read",
        "created_at",
    )
    list_filter = ("record_status", "recalled_by", "is_read", "offline", "fan_out_done")
    search_fields = ("=msg_id", "sender__username", "recipient__username", "content")
    raw_id_fields = ("session", "sender", "recipient")
    readonly_fields = [f.name for f in MessageRecord._meta.fields]
    actions = ["recall_selected"]
    inlines = [MessageVersionInline, AttachmentInline]
    show_full_result_count = False

    def get_urls(self):
        # A moderator fetches any attachment as a download (never inline: it is the users' content).
        own = [
            path(
                "attachment/<int:attachment_id>/file/",
                self.admin_site.admin_view(self.attachment_file),
                name="messaging_attachment_file",
            )
        ]
        return own + super().get_urls()

    def attachment_file(self, request: HttpRequest, attachment_id: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise Http404("No such attachment.")
        row = Attachment.objects.filter(pk=attachment_id).first()
        if row is None:
            raise Http404("No such attachment.")
        try:
            handle = attachments.storage().open(row.storage_key, "rb")
        except FileNotFoundError:
            raise Http404("No such attachment.") from None
        response = FileResponse(
            handle, as_attachment=True, filename=row.name, content_type=attachments.FILE_CONTENT_TYPE
        )
        for name, value in SAFE_FILE_HEADERS.items():
            response.headers[name] = value
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        # str(record) names both users (page titles, the admin log): one query, not three.
        return super().get_queryset(request).select_related("sender", "recipient")

    @admin.display(description="content")
    def short_content(self, record: MessageRecord) -> str:
        return record.content[:80]

    @admin.action(description="Recall the selected messages (moderation)", permissions=["change"])
    def recall_selected(self, request, queryset) -> None:
        done = 0
        for record in queryset.exclude(record_status=MessageStatus.RECALLED):
            try:
                recalled = moderate_recall(record.msg_id)
            except ChatError as exc:
                self.message_user(request, f"{record.msg_id}: {exc.detail}", messages.ERROR)
                continue
            if recalled:
                self.log_change(request, record, "Recalled by a moderator.")
                done += 1
        self.message_user(request, f"Recalled {done} message(s).")


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """The admin log, read-only: who recalled which message (and every other admin change), and when."""

    list_display = ("action_time", "user", "content_type", "object_repr", "action_flag", "change_message")
    list_filter = ("action_flag", "content_type")
    search_fields = ("object_repr", "object_id", "user__username", "change_message")
    date_hierarchy = "action_time"
