"""Group commit: a batch of sends accepted in one transaction.

The process's committer thread (messaging/committer.py) hands each batch
here. One batch, whatever its size (tests pin the statement count):

    before the transaction  recipients (1 SELECT); conversations and stream
                            rows only the first time a pair or user is seen
    BEGIN
      1  lock the stream rows of every sender and recipient (FOR UPDATE, in
         user-id order, so two batches never wait on each other in a cycle)
      2  unread counters: one upsert, received += n
      3  messages: one multi-row INSERT IGNORE; the unique (sender,
         client_msg_id) key turns a re-sent message into a skipped row
      4  conversations: last_msg_id, one UPDATE
      5  stream rows: last_msg_id, one UPDATE
      6  read back the counters (their copies go to Redis)
    COMMIT

A message that fails validation, the filter, the rate limit or a recipient
check fails alone. A re-sent client_msg_id is answered with the first
message and counts nothing. Ids are taken while the stream rows are locked,
so a user's ids follow commit order (docs/architecture.md, "Sync is
gap-free"). After the commit, the batch's Redis copies are written
(read-your-writes); the committer then answers every waiting sender and
enqueues one fan-out task for the batch.
"""

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from chat_project.common import dbretry
from chat_project.common.errors import ChatError, Forbidden, InvalidInput, NotFound, RateLimited, Unavailable
from chat_project.common.ratelimit import count_events
from chat_project.common.sql import marks
from conversations.models import Conversation
from profiles import store as profile_store
from profiles.blocks import send_checks
from unread import services as unread_services
from unread.store import CounterCopy

from . import streams
from .attachments import Claim, claim_attachments_batch
from .content_filter import filter_content
from .ids import renew_worker
from .models import MessageRecord
from .payloads import message_dict
from .projection import project_messages

logger = logging.getLogger(__name__)

# Tries of one batch's transaction (chat_project/common/dbretry.py says which
# errors allow another); each after a back-off.
ACCEPT_ATTEMPTS = dbretry.ATTEMPTS
UNKNOWN_SYSTEM_VARIABLE = 1193


@dataclass(frozen=True)
class SendRequest:
    """A validated send: plain values, checked by ``sending.prepare_send``."""

    sender_id: int
    recipient_id: int
    content: str
    client_msg_id: str | None
    reply_to: int | None = None
    # PROTOCOL.md 1.2: upload ids to claim (shape checked by the input; ownership by the batch).
    attachments: tuple[int, ...] = ()


@dataclass(frozen=True)
class SendResult:
    message: dict
    created: bool


class _RedoBatch(Exception):
    """A message id collided (a lost worker lease): run the batch again with fresh ids."""


class _ClaimsRefused(Exception):
    """Some sends' attachments cannot be claimed: the transaction rolls back; the batch runs again without them."""

    def __init__(self, refused: dict[int, InvalidInput]) -> None:
        super().__init__(f"{len(refused)} send(s) refused their attachments")
        self.refused = refused


# --- the batch ------------------------------------------------------------------


def accept_batch(requests: Sequence[SendRequest]) -> list[SendResult | ChatError]:
    """Accept a batch durably; one result (or the error of that message alone) per request."""
    results: list[SendResult | ChatError | None] = [None] * len(requests)
    contents = _filter_and_limit(requests, results)
    live = [i for i in range(len(requests)) if results[i] is None]
    if not live:
        return _answered(results)
    active, blocked = _retrying(
        lambda: send_checks(
            {requests[i].recipient_id for i in live}, {(requests[i].sender_id, requests[i].recipient_id) for i in live}
        )
    )
    for i in live:
        if requests[i].recipient_id not in active:
            results[i] = NotFound("No such user.")
        elif (requests[i].sender_id, requests[i].recipient_id) in blocked:
            results[i] = Forbidden("One of you blocks the other: messages cannot be sent between you.")
    live = [i for i in live if results[i] is None]
    if not live:
        return _answered(results)
    live = _first_of_each_client_msg_id(requests, live, results)
    try:
        conversations = _retrying(
            lambda: _conversation_ids([(requests[i].sender_id, requests[i].recipient_id) for i in live])
        )
        quoted = _retrying(lambda: _check_replies(requests, live, conversations, results))
        live = [i for i in live if results[i] is None]
        if not live:
            return _answered(results)
        _retrying(
            lambda: streams.ensure_streams({u for i in live for u in (requests[i].sender_id, requests[i].recipient_id)})
        )
        online = profile_store.online_flags(list({requests[i].recipient_id for i in live}))
    except DatabaseError as exc:
        connection.close()  # perhaps a dead connection: the next batch opens a new one
        return _fail_all(results, exc)
    except Exception as exc:  # Redis down: the presence flags are needed for the offline list
        logger.warning("send batch could not read presence: %s", exc)
        return _fail_all(results, exc)

    rows = [
        _Row(
            index=i,
            request=requests[i],
            content=contents[i],
            conversation_id=conversations[_pair(requests[i].sender_id, requests[i].recipient_id)],
            offline=not online[requests[i].recipient_id],
        )
        for i in live
    ]
    # The transaction runs again whole on a deadlock, a Galera certification
    # failure or a lost database (chat_project/common/dbretry.py). A lost
    # connection may have taken the answer to a COMMIT that was applied: before
    # the next try, the rows of the failed one that are stored are kept (they
    # are accepted) and only the others run again, with ids taken anew under
    # the next try's stream locks, so a user's ids still follow commit order.
    pending = rows
    recovered: dict[int, MessageRecord] = {}
    accepted: dict[int, MessageRecord] = {}
    existing: dict[int, MessageRecord] = {}
    counters: dict[int, list[CounterCopy]] = {}
    attached: dict[int, list[dict]] = {}
    unsure = False
    attempt = 0
    while attempt < ACCEPT_ATTEMPTS:
        attempt += 1
        try:
            if unsure:
                stored = _stored(pending)
                recovered.update(stored)
                pending = [row for row in pending if row.index not in stored]
                unsure = False
                if not pending:
                    break
            accepted, existing, counters, attached = _commit(pending)
            break
        except _ClaimsRefused as refusal:
            # A client's mistake, not the database's: those sends fail alone and the
            # others run again at once (each refusal takes a send out: this ends).
            for index, error in refusal.refused.items():
                results[index] = error
            pending = [row for row in pending if row.index not in refusal.refused]
            attempt -= 1
            if not pending:
                break
        except _RedoBatch:
            renew_worker()
        except DatabaseError as exc:
            if not dbretry.is_retryable(exc) or attempt == ACCEPT_ATTEMPTS:
                _keep_recovered(recovered, results, quoted)
                return _resolve_unknown(pending, results, exc)
            logger.info("send batch of %d: %s; trying again", len(pending), exc)
            unsure = unsure or dbretry.error_code(exc) in dbretry.CONNECTION_LOST_CODES or _is_closed(exc)
            dbretry.recover(exc, attempt - 1)
    else:
        _keep_recovered(recovered, results, quoted)
        return _fail_all(results, Unavailable("The message could not be stored right now; send it again."))

    for row in pending:
        if row.index not in accepted and row.index not in existing:
            continue  # refused its attachments (the last try ended with no send left)
        record = accepted.get(row.index) or existing[row.index]  # each row is one or the other
        results[row.index] = SendResult(message_dict(record, quoted, attached), created=row.index in accepted)
    _keep_recovered(recovered, results, quoted)
    _fill_duplicates(requests, results)
    if accepted:
        _after_commit(list(accepted.values()), counters, quoted, attached)
    if recovered:
        # Their try's counter copies were lost with its answer: read them again.
        records = list(recovered.values())
        try:
            copies = _retrying(
                lambda: unread_services.counter_copies({(r.session_id, r.recipient_id) for r in records})
            )
        except DatabaseError:
            logger.warning("could not read the counters of %d recovered message(s)", len(records), exc_info=True)
        else:
            _after_commit(records, copies, quoted)
    return _answered(results)


def _retrying(step):
    """A statement outside the batch's transaction (idempotent), tried again like the transaction."""
    for attempt in range(dbretry.ATTEMPTS):
        try:
            return step()
        except DatabaseError as exc:
            if not dbretry.is_retryable(exc) or attempt + 1 == dbretry.ATTEMPTS:
                raise
            dbretry.recover(exc, attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _is_closed(exc: Exception) -> bool:
    return isinstance(exc, InterfaceError)


def _stored(rows: "list[_Row]") -> dict[int, MessageRecord]:
    """The rows of a try whose outcome is unknown that are stored, by index: that try committed them.

    On Galera the read waits for every write-set the cluster committed
    (``wsrep_sync_wait``): after haproxy moved to another node, a commit of the
    old one may not be applied here yet.
    """
    ids = [row.msg_id for row in rows if row.msg_id]
    if not ids:
        return {}
    with connection.cursor() as cursor:
        waits = _set_sync_wait(cursor, 1)
        try:
            found = {record.msg_id: record for record in MessageRecord.objects.filter(msg_id__in=ids)}
        finally:
            if waits:
                _set_sync_wait(cursor, 0)
    ours = {}
    for row in rows:
        record = found.get(row.msg_id)
        # A row with our id is ours only if it says what we wrote (a duplicate id
        # from a lost worker lease finds another message there).
        if record is not None and (record.sender_id, record.client_msg_id, record.content) == (
            row.request.sender_id,
            row.request.client_msg_id,
            row.content,
        ):
            ours[row.index] = record
    return ours


def _set_sync_wait(cursor, value: int) -> bool:
    try:
        cursor.execute("SET SESSION wsrep_sync_wait = %s", [value])
    except OperationalError as exc:
        if dbretry.error_code(exc) == UNKNOWN_SYSTEM_VARIABLE:  # a server built without Galera
            return False
        raise
    return True


def _keep_recovered(recovered: dict[int, MessageRecord], results: list, quoted: dict[int, MessageRecord]) -> None:
    for index, record in recovered.items():
        results[index] = SendResult(message_dict(record, quoted), created=True)


def _answered(results: list[SendResult | ChatError | None]) -> list[SendResult | ChatError]:
    """``results`` once every request has its answer (no None left)."""
    return cast("list[SendResult | ChatError]", results)


@dataclass
class _Row:
    index: int
    request: SendRequest
    content: str
    conversation_id: int
    offline: bool
    msg_id: int = 0


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _filter_and_limit(requests: Sequence[SendRequest], results: list) -> dict[int, str]:
    contents: dict[int, str] = {}
    for i, request in enumerate(requests):
        try:
            contents[i] = filter_content(request.content)
        except ChatError as exc:
            results[i] = exc
    if settings.CHAT_RATE_LIMITS:
        limit, period = settings.CHAT_SEND_RATE
        wanted = Counter(requests[i].sender_id for i in contents)
        try:
            counts = count_events("send", {f"u{s}": n for s, n in wanted.items()}, period)
        except Exception as exc:
            logger.warning("send rate limit could not be checked: %s", exc)
            for i in contents:
                results[i] = Unavailable("The server could not accept this right now; try again.")
            return contents
        seen: Counter = Counter()
        for i in contents:
            sender = requests[i].sender_id
            seen[sender] += 1
            count, retry_after = counts[f"u{sender}"]
            # This sender's n events ended the window at ``count``; the k-th of them was count - n + k.
            if count - wanted[sender] + seen[sender] > limit:
                results[i] = RateLimited(retry_after=retry_after)
    return contents


def _check_replies(
    requests: Sequence[SendRequest], live: list[int], conversations: dict[tuple[int, int], int], results: list
) -> dict[int, MessageRecord]:
    """The quoted messages of the batch, in one query (none without a reply); a bad reply_to fails its send alone.

    A send may quote a message of its own conversation (PROTOCOL.md 1.2),
    whatever its state: a recalled one is still in both users' history.
    """
    wanted = {requests[i].reply_to for i in live if requests[i].reply_to is not None}
    if not wanted:
        return {}
    quoted = {r.msg_id: r for r in MessageRecord.objects.filter(msg_id__in=wanted)}
    for i in live:
        request = requests[i]
        if request.reply_to is None:
            continue
        record = quoted.get(request.reply_to)
        if record is None or record.session_id != conversations[_pair(request.sender_id, request.recipient_id)]:
            results[i] = InvalidInput.field("reply_to", "No such message in this conversation.")
    return quoted


def _first_of_each_client_msg_id(requests: Sequence[SendRequest], live: list[int], results: list) -> list[int]:
    """The same (sender, client_msg_id) twice in one batch: the later ones wait for the first."""
    seen: set[tuple[int, str | None]] = set()
    first: list[int] = []
    for i in live:
        key = (requests[i].sender_id, requests[i].client_msg_id)
        if requests[i].client_msg_id is not None and key in seen:
            results[i] = _SAME_AS_EARLIER
            continue
        seen.add(key)
        first.append(i)
    return first


_SAME_AS_EARLIER = object()


def _fill_duplicates(requests: Sequence[SendRequest], results: list) -> None:
    by_key: dict[tuple[int, str | None], SendResult | InvalidInput] = {}
    # A stored message answers its repeats; failing that, the refusal of the first (its attachments).
    for kind in (SendResult, InvalidInput):
        for i, result in enumerate(results):
            if isinstance(result, kind) and requests[i].client_msg_id is not None:
                by_key.setdefault((requests[i].sender_id, requests[i].client_msg_id), result)
    for i, result in enumerate(results):
        if result is _SAME_AS_EARLIER:
            first = by_key.get((requests[i].sender_id, requests[i].client_msg_id))
            if isinstance(first, SendResult):
                results[i] = SendResult(first.message, created=False)
            else:  # the first was refused (its attachments): so is its repeat
                results[i] = first if first is not None else Unavailable("Send it again.")


# Conversation ids never change once a pair has one: remembered for the life of the process.
_conversation_cache: dict[tuple[int, int], int] = {}
_cache_lock = threading.Lock()


def _conversation_ids(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    wanted = {_pair(a, b) for a, b in pairs}
    with _cache_lock:
        found = {p: _conversation_cache[p] for p in wanted if p in _conversation_cache}
    missing = wanted - found.keys()
    if missing:
        found.update(_load_conversations(missing))
        still = missing - found.keys()
        if still:
            # Outside the send transaction: an empty conversation row is invisible
            # (no last message) until a message commits, so creating it early is harmless.
            Conversation.objects.bulk_create(
                [Conversation(user_low_id=low, user_high_id=high) for low, high in still], ignore_conflicts=True
            )
            found.update(_load_conversations(still))
        with _cache_lock:
            _conversation_cache.update(found)
    return found


def _load_conversations(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    lows = {low for low, _ in pairs}
    highs = {high for _, high in pairs}
    rows = Conversation.objects.filter(user_low_id__in=lows, user_high_id__in=highs).values_list(
        "user_low_id", "user_high_id", "pk"
    )
    return {(low, high): pk for low, high, pk in rows if (low, high) in pairs}


def _commit(
    rows: list[_Row],
) -> tuple[dict[int, MessageRecord], dict[int, MessageRecord], dict[int, list[CounterCopy]], dict[int, list[dict]]]:
    """The transaction. Returns (inserted by index, already stored by index, counter rows, attachments by msg_id).

    Raises ``_ClaimsRefused`` (rolling it back) when a send's attachments cannot be claimed.
    """
    now = datetime.now(UTC)
    msg_table = MessageRecord._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        last = streams.lock_streams(
            cursor, [u for row in rows for u in (row.request.sender_id, row.request.recipient_id)]
        )
        for row in rows:
            row.msg_id = streams.take_id(last, row.request.sender_id, row.request.recipient_id)

        unread_services.add_received(Counter((row.conversation_id, row.request.recipient_id) for row in rows))

        values: list[int | str | bool | datetime | None] = []
        for row in rows:
            values += [
                row.conversation_id,
                row.msg_id,
                row.msg_id,
                now,
                row.request.sender_id,
                row.request.recipient_id,
                row.content,
                row.request.client_msg_id,
                row.offline,
                row.request.reply_to,
                len(row.request.attachments),
            ]
        cursor.execute(
            f"INSERT IGNORE INTO {msg_table} (sessionId, msgId, rev, isRead, recordStatus, createTime, sender_id,"
            " recipient_id, content, client_msg_id, offline, reply_to, attachment_count, fan_out_done, recalled_by)"
            " VALUES " + ",".join(["(%s, %s, %s, 0, 0, %s, %s, %s, %s, %s, %s, %s, %s, 0, '')"] * len(rows)),
            values,
        )
        inserted_rows = rows
        existing: dict[int, MessageRecord] = {}
        if cursor.rowcount < len(rows):
            inserted_rows, existing = _split_skipped(cursor, rows)
        attached = _claim(inserted_rows)

        newest: dict[int, int] = {}
        for row in inserted_rows:
            newest[row.conversation_id] = max(newest.get(row.conversation_id, 0), row.msg_id)
        if newest:
            cases = " ".join(["WHEN %s THEN %s"] * len(newest))
            ids = list(newest)
            cursor.execute(
                f"UPDATE t_conversation SET last_msg_id = GREATEST(COALESCE(last_msg_id, 0), CASE id {cases} END)"
                f" WHERE id IN ({','.join(['%s'] * len(ids))})",
                [v for item in newest.items() for v in item] + ids,
            )
        streams.write_streams(cursor, last)
        counters = unread_services.counter_copies(
            {(row.conversation_id, row.request.recipient_id) for row in inserted_rows}
        )

    accepted = {
        row.index: MessageRecord(
            session_id=row.conversation_id,
            msg_id=row.msg_id,
            rev=row.msg_id,
            created_at=now,
            sender_id=row.request.sender_id,
            recipient_id=row.request.recipient_id,
            content=row.content,
            client_msg_id=row.request.client_msg_id,
            offline=row.offline,
            reply_to_msg_id=row.request.reply_to,
            attachment_count=len(row.request.attachments),
        )
        for row in inserted_rows
    }
    return accepted, existing, counters, attached


def _claim(inserted: list[_Row]) -> dict[int, list[dict]]:
    """The uploads of the batch's new messages, by msg_id: two statements, none when no send has any.

    Only the messages this try inserted claim: a re-sent client_msg_id is
    answered with the stored message and the attachments it claimed then, so
    a retried send never fails as "already part of another message" and never
    attaches anything a second time.
    """
    with_files = [row for row in inserted if row.request.attachments]
    if not with_files:
        return {}
    answers = claim_attachments_batch(
        [
            Claim(row.request.sender_id, list(row.request.attachments), row.conversation_id, row.msg_id)
            for row in with_files
        ]
    )
    refused = {
        row.index: answer for row, answer in zip(with_files, answers, strict=True) if isinstance(answer, InvalidInput)
    }
    if refused:
        raise _ClaimsRefused(refused)
    # In upload order, as every later read has them (``attachments_of``).
    return {
        row.msg_id: sorted(cast("list[dict]", answer), key=lambda a: a["attachment_id"])
        for row, answer in zip(with_files, answers, strict=True)
    }


def _split_skipped(cursor, rows: list[_Row]) -> tuple[list[_Row], dict[int, MessageRecord]]:
    """Some rows were skipped by INSERT IGNORE: find the messages they repeat and uncount them."""
    cursor.execute(
        f"SELECT msgId, sender_id, client_msg_id, content FROM {MessageRecord._meta.db_table}"
        f" WHERE msgId IN ({marks(rows)})",
        [r.msg_id for r in rows],
    )
    # A row with our id is ours only if it says what we wrote (a duplicate id
    # from a lost worker lease finds another message there).
    stored = {(msg_id, sender, client_msg_id, content) for msg_id, sender, client_msg_id, content in cursor.fetchall()}

    def is_ours(row: _Row) -> bool:
        return (row.msg_id, row.request.sender_id, row.request.client_msg_id, row.content) in stored

    inserted = [row for row in rows if is_ours(row)]
    skipped = [row for row in rows if not is_ours(row)]
    if any(row.request.client_msg_id is None for row in skipped):
        raise _RedoBatch()  # only a duplicate msgId can skip a row without client_msg_id
    earlier = {}
    for row in skipped:
        record = MessageRecord.objects.filter(
            sender_id=row.request.sender_id, client_msg_id=row.request.client_msg_id
        ).first()
        if record is None:
            raise _RedoBatch()
        earlier[row.index] = record
    unread_services.take_back_received(Counter((row.conversation_id, row.request.recipient_id) for row in skipped))
    return inserted, earlier


def _fail_all(results: list, error: Exception) -> list:
    if not isinstance(error, ChatError):
        logger.warning("send batch failed: %s", error)
        error = Unavailable("The message could not be stored right now; send it again with the same client_msg_id.")
    return [error if r is None else r for r in results]


def _resolve_unknown(rows: list[_Row], results: list, exc: Exception) -> list:
    """The database failed during the batch, perhaps during COMMIT: look the messages up.

    A message that is there was committed: it is acked like any other (its
    fan-out is left to the sweeper, which finds it unfinished). One that is not
    there was rolled back. If the database cannot even be asked, the outcome is
    unknown, and the error says so.
    """
    logger.warning("send batch failed (%s); checking which messages were stored", exc)
    try:
        connection.close()
        found = _stored(rows)
    except Exception:
        for row in rows:
            results[row.index] = Unavailable(
                "The database did not answer; the message may or may not be stored."
                + (
                    " Send it again with the same client_msg_id: it is stored at most once."
                    if row.request.client_msg_id
                    else " Without a client_msg_id, sending it again may store it twice."
                )
            )
        return _fill_unresolved(results)
    for row in rows:
        record = found.get(row.index)
        if record is not None:
            results[row.index] = SendResult(message_dict(record), created=True)
        else:
            results[row.index] = Unavailable(
                "The message was not stored (the database failed); send it again with the same client_msg_id."
            )
    return _fill_unresolved(results)


def _fill_unresolved(results: list) -> list:
    return [Unavailable("Send it again.") if r is None or r is _SAME_AS_EARLIER else r for r in results]


def _after_commit(
    records: list[MessageRecord],
    counters: dict[int, list[CounterCopy]],
    quoted: dict[int, MessageRecord],
    attached: dict[int, list[dict]] | None = None,
) -> None:
    """Write the Redis copies (read-your-writes); the fan-out task re-applies them if this fails."""
    try:
        project_messages(records, counters, quoted, attached)
    except Exception:
        logger.warning("projecting %d message(s) to Redis failed; the fan-out will retry", len(records), exc_info=True)
