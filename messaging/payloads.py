"""The Message object of PROTOCOL.md, built from a ``t_msg_record_list`` row."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.db import connection
from django.db.models import CharField, Field, QuerySet
from django.db.models.functions import Cast

from chat_project.common.timefmt import iso_utc

from .attachments import attachments_of
from .models import MessageRecord, MessageStatus

# PROTOCOL.md 1.2: a reply shows this many code points of the quoted message.
REPLY_PREVIEW_CODE_POINTS = 100


class MessageRow(NamedTuple):
    """The columns a Message is built from, for the reads that return hundreds (sync, offline, history).

    A model instance costs about three times as much to build: for a
    500-message ``sync`` page, ``Model.__init__``, ``from_db`` and the
    foreign keys' descriptors were a third of the request's time in the
    view (cProfile, docs/benchmarks.md, "Warm reads at 10 million messages").

    The two times are already PROTOCOL.md's strings, cut from the columns'
    text (``CAST(… AS CHAR)``): parsing each into an aware datetime and
    formatting it back was a quarter of a ``sync`` page's busy time in daphne
    (py-spy, docs/benchmarks.md, "Fewer hops per REST request").
    """

    msg_id: int
    rev: int
    session_id: int
    sender_id: int
    recipient_id: int
    content: str
    client_msg_id: str | None
    created_at: str
    record_status: int
    recalled_by: str
    edited_at: str | None
    reply_to_msg_id: int | None
    reactions: list | None
    attachment_count: int


MessageFields = MessageRecord | MessageRow


# The time columns of MessageRow, read as text; their positions in a row.
_TIME_FIELDS = ("created_at", "edited_at")
_CREATED, _EDITED = (MessageRow._fields.index(name) for name in _TIME_FIELDS)


def column_time(text: str) -> str:
    """PROTOCOL.md's time from a DATETIME column's text (UTC, as Django stores it): ``iso_utc`` without a datetime.

    ``2026-05-01 12:00:00.123456`` becomes ``2026-05-01T12:00:00.123Z``:
    milliseconds, cut rather than rounded, as ``isoformat`` cuts them.
    """
    return f"{text[:10]}T{text[11:19]}.{(text[20:23] + '000')[:3]}Z"


def _with_times(values: list) -> MessageRow:
    values[_CREATED] = column_time(values[_CREATED])
    if values[_EDITED] is not None:
        values[_EDITED] = column_time(values[_EDITED])
    return MessageRow._make(values)


def message_rows(rows: QuerySet[MessageRecord]) -> list[MessageRow]:
    """The queryset's messages as rows, with the values Django's fields give (decoded JSON) and the times as text."""
    texts = {f"{name}_text": Cast(name, CharField()) for name in _TIME_FIELDS}
    names = [f"{name}_text" if name in _TIME_FIELDS else name for name in MessageRow._fields]
    return [_with_times(list(row)) for row in rows.annotate(**texts).values_list(*names)]


def _row_fields() -> list[Field]:
    return [cast(Field, MessageRecord._meta.get_field(name)) for name in MessageRow._fields]


def message_columns(alias: str) -> str:
    """``MessageRow``'s columns of the message table under ``alias``, for a statement written out (times as text)."""
    columns = []
    for field in _row_fields():
        column = f"{alias}.`{field.column}`"
        columns.append(f"CAST({column} AS CHAR)" if field.name in _TIME_FIELDS else column)
    return ", ".join(columns)


def _converters() -> list[tuple[int, list, Any]]:
    """(position, Django's converters, column) of each ``MessageRow`` field that has converters, but the times."""
    found = []
    for position, field in enumerate(_row_fields()):
        if field.name in _TIME_FIELDS:
            continue
        col = field.get_col(MessageRecord._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if converters:
            found.append((position, converters, col))
    return found


def rows_from(fetched: Iterable[Sequence[Any]]) -> list[MessageRow]:
    """Rows of ``message_columns`` fetched by a cursor, as ``message_rows`` gives them."""
    converters = _converters()
    rows = []
    for raw in fetched:
        values = list(raw)
        for position, each, col in converters:
            for convert in each:
                values[position] = convert(values[position], col, connection)
        rows.append(_with_times(values))
    return rows


def _time(value: datetime | str) -> str:
    """A MessageRow's time is PROTOCOL.md's string already; a MessageRecord's is a datetime."""
    return value if isinstance(value, str) else iso_utc(value)


def message_dict(
    record: MessageFields,
    quoted: Mapping[int, MessageRecord] | None = None,
    attached: Mapping[int, list[dict]] | None = None,
) -> dict:
    """``quoted``: the messages replies may quote, by msg_id (``quoted_messages``); one missing is looked up.

    ``attached``: Attachment dicts by msg_id (``attachments_by_message``); a message with
    attachments missing from it is looked up.
    """
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
        "created_at": _time(record.created_at),
        "status": "recalled" if recalled else "normal",
        # Version 1.1; null for a normal message, and for one recalled before
        # the column existed.
        "recalled_by": (record.recalled_by or None) if recalled else None,
        # Version 1.2.
        "edited_at": _time(record.edited_at) if record.edited_at is not None else None,
        "reply_to": _reply_to(record, quoted or {}),
        # [] once recalled: the recall removes them (a row recalled by an older version may hold some).
        "reactions": [] if recalled else (record.reactions or []),
        "attachments": _attachments(record, recalled, attached or {}),
    }


def _attachments(record: MessageFields, recalled: bool, attached: Mapping[int, list[dict]]) -> list[dict]:
    """[] without any, and once recalled (the recall deletes them)."""
    if recalled or not record.attachment_count:
        return []
    found = attached.get(record.msg_id)
    if found is None:
        found = attachments_of([record.msg_id])[record.msg_id]
    return found


def attachments_by_message(records: Sequence[MessageFields]) -> dict[int, list[dict]]:
    """The records' Attachment dicts by msg_id, in one query (none when no record has any)."""
    wanted = [r.msg_id for r in records if r.attachment_count and r.record_status != MessageStatus.RECALLED]
    return attachments_of(wanted) if wanted else {}


def _reply_to(record: MessageFields, quoted: Mapping[int, MessageRecord]) -> dict | None:
    """The quoted message as it is now: its current content's start ("" once recalled) and status."""
    if record.reply_to_msg_id is None:
        return None
    original = quoted.get(record.reply_to_msg_id)
    if original is None:
        original = MessageRecord.objects.filter(msg_id=record.reply_to_msg_id).first()
        if original is None:  # never happens: messages are not deleted
            return None
    recalled = original.record_status == MessageStatus.RECALLED
    return {
        "msg_id": original.msg_id,
        "sender_id": original.sender_id,
        "preview": "" if recalled else original.content[:REPLY_PREVIEW_CODE_POINTS],
        "status": "recalled" if recalled else "normal",
    }


def quoted_messages(records: Sequence[MessageFields]) -> dict[int, MessageRecord]:
    """The messages the records quote, in one query (none when no record is a reply)."""
    wanted = {r.reply_to_msg_id for r in records if r.reply_to_msg_id is not None}
    if not wanted:
        return {}
    return {r.msg_id: r for r in MessageRecord.objects.filter(msg_id__in=wanted)}


def message_dicts(
    records: Sequence[MessageFields],
    quoted: Mapping[int, MessageRecord] | None = None,
    attached: Mapping[int, list[dict]] | None = None,
) -> list[dict]:
    """Messages of a page (or batch), in its order, with the quoted messages and attachments fetched once for all."""
    if quoted is None:
        quoted = quoted_messages(records)
    if attached is None:
        attached = attachments_by_message(records)
    return [message_dict(r, quoted, attached) for r in records]


def messages_by_id(msg_ids: list[int]) -> dict[int, dict]:
    records = list(MessageRecord.objects.filter(msg_id__in=msg_ids))
    return {message["msg_id"]: message for message in message_dicts(records)}
