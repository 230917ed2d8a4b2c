"""Online presence: sockets registering and closing, last_seen, what watchers hear.

A user is online while at least one of their sockets is registered
(store.py keeps the registrations, each with an expiry the socket's
heartbeat pushes forward). Sockets that watch a user (the ``watch`` frame,
PROTOCOL.md 1.1) join the channel-layer group ``watch.<user_id>``: a
``presence`` frame goes there when the user's first socket registers or
their last one closes, a ``profile`` frame when their nickname, avatar or
active flag changes. A server process that dies closes nothing; each
watching socket's heartbeat compares what it last told its client with
the registrations and reports the lapse itself (``check_watched``).

Functions here are synchronous (Redis and the database); the consumer runs
them in a thread and sends the presence frames itself.
"""

import logging
from datetime import UTC, datetime

from django.db.models import Q

from chat_project.common import push
from chat_project.common.timefmt import iso_utc

from . import store
from .models import User
from .services import get_profiles

logger = logging.getLogger(__name__)

# Users per statement when a stopping process records many last_seen at once.
LAST_SEEN_CHUNK = 1000


def presence_frame(user_id: int, online: bool, last_seen: str | None) -> dict:
    return {"type": "presence", "user_id": user_id, "online": online, "last_seen": None if online else last_seen}


def unregister_sockets(sockets: list[tuple[int, str]]) -> list[str | None]:
    """Unregister many closing sockets (a stopping process's, or those closing at once) in a few round
    trips, whatever their number.

    Returns, for each socket in order, the last_seen recorded if its user went
    offline with it, else None: of several sockets of one user, only the last
    one removed, so that the user's watchers hear "offline" once.
    """
    left = store.unregister_sockets(sockets)
    offline = sorted({user_id for (user_id, _), gone in zip(sockets, left, strict=True) if gone})
    times = record_last_seen(offline, datetime.now(UTC)) if offline else {}
    return [times[user_id] if gone else None for (user_id, _), gone in zip(sockets, left, strict=True)]


def record_last_seen(user_ids: list[int], moment: datetime) -> dict[int, str]:
    """Store ``moment`` as each user's last_seen unless a later one is stored; the ISO times kept, by user id."""
    later_or_none = Q(last_seen__isnull=True) | Q(last_seen__lt=moment)
    stored: dict[int, datetime | None] = {}
    for start in range(0, len(user_ids), LAST_SEEN_CHUNK):
        chunk = user_ids[start : start + LAST_SEEN_CHUNK]
        User.objects.filter(pk__in=chunk).filter(later_or_none).update(last_seen=moment)
        stored.update(User.objects.filter(pk__in=chunk).values_list("pk", "last_seen"))
    times = {user_id: iso_utc(stored.get(user_id) or moment) for user_id in user_ids}
    store.cache_last_seen(times)
    return times


def watch_snapshot(user_ids: list[int]) -> list[dict]:
    """The answer to a ``watch``: one presence frame per watched user that exists (and is active)."""
    profiles = get_profiles(user_ids)
    return [
        presence_frame(user_id, profile["online"], profile["last_seen"])
        for user_id, profile in profiles.items()
        if profile["is_active"]
    ]


def check_watched(known: dict[int, bool]) -> list[dict]:
    """Presence frames for watched users whose state differs from ``known`` (user id -> online last told).

    Catches what no event reports: a user whose server process died goes
    offline when their registrations lapse, with last_seen = that moment.
    """
    frames = []
    last_seen: str | None
    for user_id, (online, lapsed_at) in store.presence_states(list(known)).items():
        if online == known[user_id]:
            continue
        if online:
            frames.append(presence_frame(user_id, True, None))
            continue
        if lapsed_at is not None:
            last_seen = record_last_seen([user_id], datetime.fromtimestamp(lapsed_at, UTC))[user_id]
        else:
            last_seen = get_profiles([user_id]).get(user_id, {}).get("last_seen")
        frames.append(presence_frame(user_id, False, last_seen))
    return frames


def tell_watchers_about_profile(user_id: int) -> None:
    """A ``profile`` frame to the user's watchers (after a change has committed)."""
    profile = get_profiles([user_id]).get(user_id)
    if profile is not None:
        push.send([push.to_watchers(user_id, {"type": "profile", "profile": profile})], quiet=True)
