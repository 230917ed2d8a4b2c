"""The search index: per user, the grams of the messages they sent or received (``SearchGram`` rows).

A message's text is folded (``fold``: case and accents removed, as the
table's collation compares them), split at white space into runs, and each
run gives its two-character grams and its last character alone
(``grams_of``): "Lunch!" gives "lu", "un", "nc", "ch", "h!" and "!" (a last
character that starts another gram of the text is left out). A text
that contains a word contains every gram of it, so a word of two characters
or more is looked up by its grams, and a one-character word by the grams
that start with it (a prefix range). The grams find candidates; the
message row itself decides (messaging/search.py): stale or extra rows cost
a check, never a wrong answer. A missing row would hide a message, so every
writer of a message's text keeps its rows:

- the fan-out task indexes a batch of new messages before it marks them
  done (``index_messages``); search reads messages not yet done from the
  message table itself, so a message is found from its commit on;
- an edit replaces the rows in its transaction (``reindex_message``);
- a recall deletes them in its transaction (``unindex_message``);
- rows written before the index existed: ``backfill_search_index``
  (migration 0012, ``manage.py backfill_search``).

Plain InnoDB rows: Galera replicates them with the message rows, so every
node answers the same. docs/architecture.md ("Search") has the measured
choice against InnoDB FULLTEXT and Mroonga.
"""

import time
import unicodedata
from collections.abc import Callable, Iterable

from django.db import connection

from chat_project.common.sql import marks

from .backfill import TABLE as MESSAGES
from .backfill import id_batches
from .models import SearchGram

TABLE = SearchGram._meta.db_table
# The backfill: messages read per statement; messages staged before they go into the
# index sorted; index rows per INSERT … SELECT (a Galera write-set of its own).
BACKFILL_BATCH = 1000
STAGE_MESSAGES = 1_000_000
INSERT_ROWS = 20_000
STAGE = "search_backfill_stage"
STAGE_SORTED = "search_backfill_sorted"


# Letters the collation (utf8mb4_unicode_ci) takes as equal that case folding and
# compatibility decomposition leave apart: katakana and hiragana, small and full
# kana, and a few Greek, Cyrillic and Latin ones. A test compares ``fold`` with
# the collation's own weights over these scripts (tests/test_search.py).
_SMALL_KANA = dict(zip("ぁぃぅぇぉっゃゅょゎゕゖ", "あいうえおつやゆよわかけ", strict=True))
_SAME_AS = str.maketrans(
    {
        # katakana -> hiragana, small -> full (one step: translate makes a single pass)
        **{chr(k): _SMALL_KANA.get(chr(k - 0x60), chr(k - 0x60)) for k in range(0x30A1, 0x30F7)},
        **_SMALL_KANA,
        # Before decomposition, which makes it a space and a mark.
        "\N{GREEK YPOGEGRAMMENI}": "\N{GREEK SMALL LETTER IOTA}",
        "\N{GREEK LUNATE SIGMA SYMBOL}": "\N{GREEK SMALL LETTER SIGMA}",
        "\N{GREEK CAPITAL LUNATE SIGMA SYMBOL}": "\N{GREEK SMALL LETTER SIGMA}",
        "\N{CYRILLIC SMALL LETTER GHE WITH UPTURN}": "\N{CYRILLIC SMALL LETTER GHE}",
        "\N{CYRILLIC CAPITAL LETTER GHE WITH UPTURN}": "\N{CYRILLIC SMALL LETTER GHE}",
        "\N{LATIN SMALL LIGATURE OE}": "oe",
        "\N{LATIN CAPITAL LIGATURE OE}": "oe",
        "\N{LATIN SMALL LETTER TURNED DELTA}": "zw",
        "\N{LATIN LETTER INVERTED GLOTTAL STOP WITH STROKE}": "ts",
    }
)
# Marks and format characters (accents, zero-width joiners, direction marks): the collation ignores them.
_IGNORED = {"Mn", "Me", "Mc", "Cf"}


def fold(text: str) -> str:
    """Lower case, no accents, kana of one kind: never finer than the table's collation, sometimes coarser.

    Coarser is safe (the row's LIKE decides), finer would hide matches. Hangul
    syllables stay whole (NFC after dropping the marks).
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_SAME_AS)).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed).translate(_SAME_AS)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in _IGNORED)
    return unicodedata.normalize("NFC", kept)


def grams_of(text: str) -> set[str]:
    grams: set[str] = set()
    last: set[str] = set()
    for run in fold(text).split():
        grams.update(run[i : i + 2] for i in range(len(run) - 1))
        last.add(run[-1])
    # A last character needs a row of its own only if no gram of the text starts with it
    # (a one-character word is looked up by the grams that start with it).
    starts = {gram[0] for gram in grams}
    return grams | {char for char in last if char not in starts}


def word_terms(word: str) -> tuple[set[str], set[str]]:
    """What a word of a query needs: (grams every match holds, characters some gram of a match starts with)."""
    grams: set[str] = set()
    chars: set[str] = set()
    for run in fold(word).split():
        if len(run) == 1:
            chars.add(run)
        else:
            grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return grams, chars


def _insert(rows: Iterable[tuple[int, str, int]], into: str = TABLE, ordered: bool = True) -> None:
    """INSERT IGNORE in key order (fewer page splits); one statement per 5,000 rows.

    The VALUES are written here, each distinct gram quoted once by the driver:
    quoting every value through parameters took half the backfill's time.
    """
    listed = sorted(set(rows)) if ordered else list(rows)
    if not listed:
        return
    connection.ensure_connection()
    quote = connection.connection.literal  # the driver's own escaping, for the connection's charset
    quoted: dict[str, str] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(listed), 5000):
            values = []
            for user, gram, msg_id in listed[start : start + 5000]:
                literal = quoted.get(gram)
                if literal is None:
                    literal = quoted[gram] = quote(gram).decode()
                values.append(f"({int(user)},{literal},{int(msg_id)})")
            cursor.execute(f"INSERT IGNORE INTO {into} (user_id, gram, msg_id) VALUES {','.join(values)}")


def _rows(msg_id: int, users: tuple[int, int], text: str) -> list[tuple[int, str, int]]:
    return [(user, gram, msg_id) for gram in grams_of(text) for user in users]


def index_messages(messages: Iterable[tuple[int, int, int, str]]) -> None:
    """Index (msg_id, sender_id, recipient_id, content) tuples; idempotent."""
    _insert(row for msg_id, sender, recipient, text in messages for row in _rows(msg_id, (sender, recipient), text))


def unindex_message(msg_id: int, sender_id: int, recipient_id: int, text: str) -> None:
    """Delete the rows ``text`` gave the message (a recall), inside the caller's transaction."""
    _delete(msg_id, (sender_id, recipient_id), grams_of(text))


def reindex_message(msg_id: int, sender_id: int, recipient_id: int, old_text: str, new_text: str) -> None:
    """An edit: the grams only the old text had go, the new text's come (inside the edit's transaction)."""
    old, new = grams_of(old_text), grams_of(new_text)
    users = (sender_id, recipient_id)
    _delete(msg_id, users, old - new)
    _insert((user, gram, msg_id) for gram in new for user in users)


def _delete(msg_id: int, users: tuple[int, int], grams: set[str]) -> None:
    if not grams:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE user_id IN (%s, %s) AND gram IN ({marks(grams)}) AND msg_id = %s",
            [*users, *sorted(grams), msg_id],
        )


def backfill_search_index(
    batch_rows: int = BACKFILL_BATCH,
    pause_seconds: float = 0.0,
    log: Callable[[int, int, int], None] | None = None,
    stage_messages: int = STAGE_MESSAGES,
) -> int:
    """Index every normal message; returns how many were read. Running it again is harmless.

    The message table is read in batches by primary key (each one SELECT in
    autocommit: nothing is locked, writers go on). Its grams go first to a
    temporary table of the session, then into the index sorted by its key,
    in statements of INSERT_ROWS rows: each user's rows arrive in key order,
    so the index is built by appending to each user's range. Inserted in the
    messages' order instead, every row lands on a random page of the whole
    index: once the index outgrew a 128 MiB buffer pool that fell from
    47,000 to 4,000 rows a second. Up to ``stage_messages`` messages are
    staged at a time. Walks the primary key to its end until a pass finds
    the end unchanged (rows the old code wrote meanwhile, without a fan-out
    that indexes them, are included).
    """
    done, staged_from = 0, 0
    with connection.cursor() as cursor:
        _create_stage(cursor)
        try:
            for low, high, end in id_batches(cursor, MESSAGES, batch_rows):
                cursor.execute(
                    f"SELECT msgId, sender_id, recipient_id, content FROM {MESSAGES}"
                    " WHERE id > %s AND id <= %s AND recordStatus = 0",
                    [low, high],
                )
                found = cursor.fetchall()
                _insert((row for m, s, r, text in found for row in _rows(m, (s, r), text)), into=STAGE, ordered=False)
                done += len(found)
                if log is not None:
                    log(high, end, done)
                if pause_seconds:
                    time.sleep(pause_seconds)
                if high == end or high - staged_from >= stage_messages:
                    _flush_stage(cursor, pause_seconds)
                    staged_from = high
            return done
        finally:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {STAGE}, {STAGE_SORTED}")


def _create_stage(cursor) -> None:
    columns = "user_id BIGINT NOT NULL, gram VARCHAR(2) COLLATE utf8mb4_nopad_bin NOT NULL, msg_id BIGINT NOT NULL"
    cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {STAGE}, {STAGE_SORTED}")
    cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} ({columns}) ENGINE=Aria CHARACTER SET utf8mb4")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {STAGE_SORTED} (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, {columns})"
        " ENGINE=Aria CHARACTER SET utf8mb4"
    )


def _flush_stage(cursor, pause_seconds: float) -> None:
    """The staged rows into the index in key order (the server sorts them once), then an empty stage."""
    cursor.execute(f"TRUNCATE TABLE {STAGE_SORTED}")
    cursor.execute(
        f"INSERT INTO {STAGE_SORTED} (user_id, gram, msg_id) SELECT user_id, gram, msg_id FROM {STAGE}"
        " ORDER BY user_id, gram, msg_id"
    )
    cursor.execute(f"TRUNCATE TABLE {STAGE}")
    cursor.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {STAGE_SORTED}")
    last = cursor.fetchone()[0]
    for first in range(1, last + 1, INSERT_ROWS):
        cursor.execute(
            f"INSERT IGNORE INTO {TABLE} (user_id, gram, msg_id) SELECT user_id, gram, msg_id FROM {STAGE_SORTED}"
            " WHERE seq >= %s AND seq < %s ORDER BY seq",
            [first, first + INSERT_ROWS],
        )
        if pause_seconds:
            time.sleep(pause_seconds)
