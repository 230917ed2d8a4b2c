"""Catch-up without loss or repeats: one cursor, and which (msg_id, rev) were emitted beyond it.

The cursor is always the ``next_since`` of the last sync page that was
emitted, never the largest id held (docs/api.md, "Sync"); it is saved only
after its page was emitted, so a crash replays, never skips. Everything at or
below the cursor was emitted already (a sync page carried it), so only what
was emitted above it has to be remembered, and that is saved with the cursor:
a restarted client neither repeats nor loses a message.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from .models import Message, SyncPage

Seen = Literal["new", "changed"]


class Ledger:
    def __init__(self, cursor: int | None = None, seen: dict[int, int] | None = None) -> None:
        self.cursor = cursor
        # msg_id -> the largest rev emitted, for revs above the cursor.
        self.seen: dict[int, int] = dict(seen or {})

    def note(self, message: Message) -> Seen | None:
        """Record ``message``; "new" or "changed" if it is to be emitted, None if it was already."""
        if self.cursor is not None and message.rev <= self.cursor:
            return None
        previous = self.seen.get(message.msg_id)
        if previous is not None and message.rev <= previous:
            return None
        self.seen[message.msg_id] = message.rev
        # A msg_id at or below the cursor was emitted by an earlier page: this is a newer state of it.
        known = previous is not None or (self.cursor is not None and message.msg_id <= self.cursor)
        return "changed" if known else "new"

    def advance(self, cursor: int) -> None:
        self.cursor = cursor
        self.seen = {msg_id: rev for msg_id, rev in self.seen.items() if rev > cursor}


FetchPage = Callable[[int], Awaitable[SyncPage]]


async def catch_up(
    fetch: FetchPage,
    since: int,
    emit_page: Callable[[list[Message]], None],
    save_cursor: Callable[[int], None],
    *,
    full_page_wait: float = 1.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> int:
    """Follow ``next_since`` until ``has_more`` is false; the final cursor.

    Each page is emitted (ascending by rev), then its ``next_since`` saved. A
    full page (``has_more`` with ``next_since == since``: a burst beyond the
    point below which everything is visible) is emitted too, but the cursor
    stays: wait ``full_page_wait`` and ask again from the same ``since``.
    """
    while True:
        page = await fetch(since)
        emit_page(sorted(page.results, key=lambda m: (m.rev, m.msg_id)))
        if page.has_more and page.next_since == since:
            await sleep(full_page_wait)
            continue
        since = page.next_since
        save_cursor(since)
        if not page.has_more:
            return since
