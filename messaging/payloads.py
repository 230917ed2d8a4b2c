"""The Message object of PROTOCOL.md, built from a ``t_msg_record_list`` row."""

from chat_project.common.timefmt import iso_utc

from .models import MessageRecord, MessageStatus


def message_dict(record: MessageRecord) -> dict:
    recalled = record.record_status == MessageStatus.RECALLED
    return {
        "msg_id": record.msg_id,
        # Version 1.2: rows older than the column get msg_id until backfilled.
        "rev": record.rev or record.msg_id,
        "conversation_id": record.session_id,
        "sender_id": record.sender_id,
        "recipient_id": record.recipient_id,
        "content": "" if recalled else record.content,
        "client_msg_id": record.client_msg_id,
        "created_at": iso_utc(record.created_at),
        "status": "recalled" if recalled else "normal",
        # Version 1.1; null for a normal message, and for one recalled before
        # the column existed.
        "recalled_by": (record.recalled_by or None) if recalled else None,
        # Version 1.2.
        "edited_at": iso_utc(record.edited_at) if record.edited_at is not None else None,
    }


def message_dicts(records: list[MessageRecord]) -> list[dict]:
    """Messages of a page, in the page's order."""
    return [message_dict(r) for r in records]


def messages_by_id(msg_ids: list[int]) -> dict[int, dict]:
    return {r.msg_id: message_dict(r) for r in MessageRecord.objects.filter(msg_id__in=msg_ids)}
