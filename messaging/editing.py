"""Editing a message (PROTOCOL.md 1.2): by its sender, within CHAT_EDIT_WINDOW_SECONDS.

The new content passes the rules and the content filter of a send. The
earlier content is kept as a MessageVersion row (moderators see it in the
admin). The message gets a fresh rev like any change (messaging/changes.py).
"""

from datetime import UTC, datetime

from django.conf import settings

from chat_project.common.errors import Forbidden
from chat_project.common.ratelimit import check_rate

from . import search_index
from .changes import change_message
from .content_filter import filter_content
from .inputs import Edit
from .models import MessageRecord, MessageStatus, MessageVersion


def edit_message(user_id: int, msg_id: int, edit: Edit) -> dict:
    """The Message with its new content; the same content again changes nothing."""
    check_rate("edit", f"u{user_id}", settings.CHAT_EDIT_RATE)
    content = filter_content(edit.content)

    def change(record: MessageRecord) -> list[str] | None:
        if record.sender_id != user_id:
            raise Forbidden("Only the sender can edit a message.")
        if record.record_status == MessageStatus.RECALLED:
            raise Forbidden("A recalled message cannot be edited.")
        now = datetime.now(UTC)
        if (now - record.created_at).total_seconds() > settings.CHAT_EDIT_WINDOW_SECONDS:
            raise Forbidden(f"Messages can be edited within {settings.CHAT_EDIT_WINDOW_SECONDS} seconds of sending.")
        if content == record.content:
            return None
        MessageVersion.objects.create(message=record, content=record.content, replaced_at=now)
        search_index.reindex_message(record.msg_id, record.sender_id, record.recipient_id, record.content, content)
        record.content = content
        record.edited_at = now
        return ["content", "edited_at"]

    return change_message(user_id, msg_id, change)
