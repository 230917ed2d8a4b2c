"""Search (PROTOCOL.md 1.2): the user's messages whose current content contains every word of ``q``.

Candidates come from the gram index (messaging/search_index.py), which is
keyed by user: a search reads the requesting user's postings only, however
large the table. The message row decides: ``LIKE '%word%'`` for each word
under the table's case- and accent-insensitive collation, a normal status
and the user as sender or recipient, in the same statement as the walk, so
a recalled message or an edit's earlier text never matches. Messages the
fan-out has not indexed yet (``fan_out_done`` still false) are read from the
message table directly, so a message is found from its commit on. A small
conversation (``conversation_id``) is cheaper to read whole than through the
user's postings. docs/architecture.md ("Search") has the design and its cost.
"""

from django.conf import settings
from django.db import connection
from django.db.models import Q, Sum

from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate
from conversations.models import Conversation
from conversations.services import get_conversation_for
from unread.models import UnreadCounter

from . import search_index
from .models import MessageRecord, MessageStatus
from .payloads import message_dicts

MAX_QUERY_CODE_POINTS = 100
# Postings counted (at most, over all the query's grams; at least 50 per gram) to choose
# the gram to walk: the rarest. A long query counts fewer per gram.
COUNT_BUDGET = 4000
# Other grams of the query checked in the index before the message row is read.
PROBES = 3
# A conversation with at most this many messages is read whole rather than through the index.
SMALL_CONVERSATION = 2000
# A query of one-character words only walks each gram starting with the character,
# when there are at most this many; beyond, it sorts the prefix range.
MAX_BRANCHES = 200

MESSAGES = MessageRecord._meta.db_table
GRAMS = search_index.TABLE


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
        get_conversation_for(user_id, conversation_id)
    found = _find(_Query(user_id, words, conversation_id, before), limit + 1)
    has_more = len(found) > limit
    found = found[:limit]
    # Read again by id; a message recalled since its check is left out.
    page = list(MessageRecord.objects.filter(msg_id__in=found, record_status=MessageStatus.NORMAL).order_by("-msg_id"))
    return {"results": message_dicts(page), "next_before": found[-1] if has_more else None}


class _Query:
    def __init__(self, user_id: int, words: list[str], conversation_id: int | None, before: int | None) -> None:
        self.user_id = user_id
        self.words = words
        self.conversation_id = conversation_id
        self.before = before
        self.grams: set[str] = set()
        self.chars: set[str] = set()
        for word in words:
            grams, chars = search_index.word_terms(word)
            self.grams |= grams
            self.chars |= chars

    def checks(self, alias: str) -> tuple[str, list]:
        """The row's verdict: normal, the user's, in the conversation asked for, every word in it."""
        sql = f"{alias}.recordStatus = %s AND ({alias}.sender_id = %s OR {alias}.recipient_id = %s)"
        args: list = [MessageStatus.NORMAL, self.user_id, self.user_id]
        if self.conversation_id is not None:
            sql += f" AND {alias}.sessionId = %s"
            args.append(self.conversation_id)
        for word in self.words:
            sql += f" AND {alias}.content LIKE %s"
            args.append(f"%{connection.ops.prep_for_like_query(word)}%")
        return sql, args


def _find(query: _Query, wanted: int) -> list[int]:
    """The msg_ids of the newest ``wanted`` matches, newest first."""
    if not query.grams and not query.chars:
        # Words that fold to nothing (combining marks alone): no gram to look up.
        return _scan(query, wanted)
    if query.conversation_id is not None and _conversation_size(query.conversation_id) <= SMALL_CONVERSATION:
        return _scan(query, wanted)
    found = set(_indexed(query, wanted)) | set(_not_yet_indexed(query, wanted))
    return sorted(found, reverse=True)[:wanted]


def _fetch(sql: str, args: list) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [row[0] for row in cursor.fetchall()]


def _indexed(query: _Query, wanted: int) -> list[int]:
    if query.grams:
        counts = _counts(query, sorted(query.grams))
        rarest = sorted(query.grams, key=lambda gram: (counts[gram], gram))
        if counts[rarest[0]] == 0:
            return []
        sql, args = _walk(query, rarest[0], rarest[1 : 1 + PROBES], wanted)
        return _fetch(sql, args)
    # One-character words only: the grams that start with the character of fewest.
    followers = min((_grams_starting_with(query, char) for char in sorted(query.chars)), key=len)
    if not followers:
        return []
    if len(followers) > MAX_BRANCHES:
        return _sorted_prefix(query, followers[0][0], wanted)
    # Each gram's walk stops at ``wanted`` matches; the newest ``wanted`` of them all
    # are the answer (a message in several branches counts once: UNION, not UNION ALL).
    parts = [_walk(query, gram, [], wanted) for gram in followers]
    sql = " UNION ".join(f"({part})" for part, _ in parts)
    args = [arg for _, part_args in parts for arg in part_args]
    return _fetch(f"SELECT msg_id FROM ({sql}) found ORDER BY msg_id DESC LIMIT %s", [*args, wanted])


def _counts(query: _Query, grams: list[str]) -> dict[str, int]:
    """Postings of each gram for this user, each counted up to a cap (one statement)."""
    cap = max(50, COUNT_BUDGET // len(grams))
    before = " AND msg_id < %s" if query.before is not None else ""
    parts: list[str] = []
    args: list[int | str] = []
    for i, gram in enumerate(grams):
        parts.append(
            f"SELECT {i}, COUNT(*) FROM (SELECT 1 FROM {GRAMS} WHERE user_id = %s AND gram = %s{before}"
            f" LIMIT {cap}) c{i}"
        )
        args += [query.user_id, gram, *([query.before] if query.before is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), args)
        return {grams[i]: count for i, count in cursor.fetchall()}


def _walk(query: _Query, driver: str, probes: list[str], wanted: int) -> tuple[str, list]:
    """Down the driver gram's postings, newest first; each candidate must hold the probe grams, then pass its row."""
    joins = "".join(
        f" JOIN {GRAMS} p{i} ON p{i}.user_id = d.user_id AND p{i}.gram = %s AND p{i}.msg_id = d.msg_id"
        for i in range(len(probes))
    )
    checks, check_args = query.checks("m")
    before = " AND d.msg_id < %s" if query.before is not None else ""
    sql = (
        f"SELECT STRAIGHT_JOIN d.msg_id FROM {GRAMS} d{joins} JOIN {MESSAGES} m ON m.msgId = d.msg_id"
        f" WHERE d.user_id = %s AND d.gram = %s{before} AND {checks} ORDER BY d.msg_id DESC LIMIT %s"
    )
    args = [*probes, query.user_id, driver, *([query.before] if query.before is not None else []), *check_args]
    return sql, [*args, wanted]


def _grams_starting_with(query: _Query, char: str) -> list[str]:
    """The user's grams that start with ``char`` (a loose scan of the key), at most MAX_BRANCHES + 1."""
    return [
        gram
        for (gram,) in _rows(
            # GROUP BY the key's first two columns: a loose scan, one dive per gram
            # (GROUP BY gram alone read every posting of the range).
            f"SELECT gram FROM {GRAMS} WHERE user_id = %s AND gram BETWEEN %s AND %s GROUP BY user_id, gram LIMIT %s",
            [query.user_id, char, char + "\U0010ffff", MAX_BRANCHES + 1],
        )
    ]


def _rows(sql: str, args: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def _sorted_prefix(query: _Query, char: str, wanted: int) -> list[int]:
    """Every message with a gram starting with ``char``, sorted: for a character followed by many others."""
    checks, check_args = query.checks("m")
    before = " AND msg_id < %s" if query.before is not None else ""
    return _fetch(
        f"SELECT m.msgId FROM (SELECT DISTINCT msg_id FROM {GRAMS} WHERE user_id = %s AND gram BETWEEN %s AND %s"
        f"{before}) d JOIN {MESSAGES} m ON m.msgId = d.msg_id WHERE {checks} ORDER BY m.msgId DESC LIMIT %s",
        [
            query.user_id,
            char,
            char + "\U0010ffff",
            *([query.before] if query.before is not None else []),
            *check_args,
            wanted,
        ],
    )


def _not_yet_indexed(query: _Query, wanted: int) -> list[int]:
    """Matches among the messages whose fan-out has not finished (the fan-out indexes them).

    Through the fan-out index only: those rows are the few in flight, whoever sent them.
    """
    checks, check_args = query.checks("m")
    before = " AND m.msgId < %s" if query.before is not None else ""
    return _fetch(
        f"SELECT m.msgId FROM {MESSAGES} m FORCE INDEX (msg_fan_out_pending) WHERE m.fan_out_done = 0{before}"
        f" AND {checks} ORDER BY m.msgId DESC LIMIT %s",
        [*([query.before] if query.before is not None else []), *check_args, wanted],
    )


def _conversation_size(conversation_id: int) -> int:
    """Messages in the conversation, from its two counters (received by each user)."""
    total = UnreadCounter.objects.filter(conversation_id=conversation_id).aggregate(total=Sum("received"))["total"]
    return total or 0


def _scan(query: _Query, wanted: int) -> list[int]:
    """Every message of the user's conversations (or of the one asked for), newest first, checked row by row.

    One branch per conversation, each a walk down (sessionId, msgId) that
    stops at ``wanted`` matches, in ONE statement. (``sessionId IN (…) ORDER
    BY msgId`` made MariaDB collect every match of every conversation into a
    temporary table and sort it.)
    """
    if query.conversation_id is not None:
        conversation_ids = [query.conversation_id]
    else:
        conversation_ids = list(
            Conversation.objects.filter(
                Q(user_low_id=query.user_id) | Q(user_high_id=query.user_id), last_msg_id__isnull=False
            )
            .order_by("-last_msg_id")
            .values_list("pk", flat=True)
        )
    if not conversation_ids:
        return []
    branches = []
    for conversation_id in conversation_ids:
        rows = MessageRecord.objects.filter(session_id=conversation_id, record_status=MessageStatus.NORMAL)
        if query.before is not None:
            rows = rows.filter(msg_id__lt=query.before)
        for word in query.words:
            rows = rows.filter(content__icontains=word)
        branches.append(rows.order_by("-msg_id").values_list("msg_id", flat=True)[:wanted])
    if len(branches) == 1:
        return list(branches[0])
    return list(branches[0].union(*branches[1:], all=True).order_by("-msg_id")[:wanted])
