"""A socket's blocking work when it opens and when it closes, batched with the other sockets' (common/batcher.py).

Opening, a socket reads the users it blocks or is blocked by, the number of
its user's latest push, and registers its presence: three thread hops and
three Redis round trips each before, one hop and a round trip per step for
every socket opening meanwhile now. Closing, it unregisters its presence
(and records ``last_seen`` when it was its user's last socket): one hop per
socket before, one per batch now. The steps and their order per socket are
the same as one by one.
"""

from chat_project.common.batcher import Batcher
from profiles import blocks, presence
from profiles import store as presence_store

from . import store

Socket = tuple[int, str]  # (user id, channel name)
Opened = tuple[set[int], int, presence_store.Registration]


def open_sockets(sockets: list[Socket]) -> list[Opened]:
    """For each socket: the users blocked either way, its user's latest push number, its registration."""
    users = list(dict.fromkeys(user_id for user_id, _ in sockets))
    blocked = {user_id: blocks.blocked_with(user_id) for user_id in users}
    seqs = store.push_seqs(users)
    registrations = presence_store.register_sockets(sockets)
    return [
        (set(blocked[user_id]), seqs[user_id], registration)
        for (user_id, _), registration in zip(sockets, registrations, strict=True)
    ]


def close_sockets(sockets: list[Socket]) -> list[str | None]:
    """For each socket: the ``last_seen`` recorded if its user went offline with it (presence.unregister_sockets)."""
    return presence.unregister_sockets(sockets)


# One of each per process: daphne runs all of a process's sockets on one event loop.
open_socket: Batcher[Socket, Opened] = Batcher(open_sockets)
close_socket: Batcher[Socket, str | None] = Batcher(close_sockets)
