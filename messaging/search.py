"""Search (PROTOCOL.md 1.2): the user's messages whose current content contains every word of ``q``.

No full-text engine: MariaDB's InnoDB FULLTEXT has no ngram parser (so no
CJK), and Mroonga would be a server plugin to install and operate. A user
searches their own conversations only, so the scan is bounded by their
messages: one statement walks ``(sessionId, msgId)`` of the user's
conversations newest first and keeps the rows where each word is a
substring (``LIKE '%word%'`` under the table's case-insensitive collation;
CJK text without spaces matches any substring). Recalled messages never
match; an edited one matches its current content only (the row holds no
other). Cost: measured in docs/architecture.md ("Search").
"""

from django.conf import settings
from django.db.models import Q

from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate
from conversations.models import Conversation
from conversations.services import get_conversation_for

from .models import MessageRecord, MessageStatus
from .payloads import message_dicts

MAX_QUERY_CODE_POINTS = 100


def check_query(value: object) -> list[str]:
    """``q``: 1..100 code points, not only white space; its words."""
    if not isinstance(value, str) or not value or value.isspace():
        raise InvalidInput.field("q", "Give the text to search for.")
    if len(value) > MAX_QUERY_CODE_POINTS or "\x00" in value:
        raise InvalidInput.field("q", f"At most {MAX_QUERY_CODE_POINTS} characters, no U+0000.")
    return list(dict.fromkeys(value.split()))


def search_messages(user_id: int, q: object, conversation_id: int | None, before: int | None, limit: int) -> dict:
    words = check_query(q)
    check_rate("search", f"u{user_id}", settings.CHAT_SEARCH_RATE)
    if conversation_id is not None:
        conversation_ids = [get_conversation_for(user_id, conversation_id).pk]
    else:
        conversation_ids = list(
            Conversation.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id), last_msg_id__isnull=False)
            .order_by("-last_msg_id")
            .values_list("pk", flat=True)
        )
    if not conversation_ids:
        return {"results": [], "next_before": None}
    # One branch per conversation, each a walk down (sessionId, msgId) that
    # stops at limit + 1 matches, in ONE statement: a common word costs a few
    # rows per conversation. (``sessionId IN (…) ORDER BY msgId`` made MariaDB
    # collect every match of every conversation into a temporary table and
    # sort it: 7.6 s instead of 0.1 s for a common word over 200,000 messages.)
    branches = [_matching(cid, words, before)[: limit + 1] for cid in conversation_ids]
    if len(branches) == 1:
        page = list(branches[0])
    else:
        page = list(branches[0].union(*branches[1:], all=True).order_by("-msg_id")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    return {"results": message_dicts(page), "next_before": page[-1].msg_id if has_more else None}


def _matching(conversation_id: int, words: list[str], before: int | None):
    rows = MessageRecord.objects.filter(session_id=conversation_id, record_status=MessageStatus.NORMAL)
    if before is not None:
        rows = rows.filter(msg_id__lt=before)
    for word in words:
        rows = rows.filter(content__icontains=word)
    return rows.order_by("-msg_id")
