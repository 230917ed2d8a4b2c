"""Reactions (PROTOCOL.md 1.2): each user sets at most one emoji per message, or removes it.

Either participant may react, not to a recalled message. A reaction set or
removed is a change both users see: a fresh rev and a ``changed`` frame
(messaging/changes.py). Setting the emoji already set, or removing one that
is not there, changes nothing.
"""

from django.conf import settings

from chat_project.common.errors import Forbidden
from chat_project.common.ratelimit import check_rate

from .changes import change_message
from .models import MessageRecord, MessageStatus


def set_reaction(user_id: int, msg_id: int, emoji: str | None) -> dict:
    """The user's reaction becomes ``emoji`` (None: removed); the Message as it is now."""
    check_rate("reaction", f"u{user_id}", settings.CHAT_REACTION_RATE)

    def change(record: MessageRecord) -> list[str] | None:
        if record.record_status == MessageStatus.RECALLED:
            raise Forbidden("A recalled message takes no reactions.")
        current = record.reactions or []
        others = [r for r in current if r["user_id"] != user_id]
        wanted = others if emoji is None else sorted([*others, {"user_id": user_id, "emoji": emoji}], key=_by_user)
        if wanted == current:
            return None
        record.reactions = wanted or None
        return ["reactions"]

    return change_message(user_id, msg_id, change)


def _by_user(reaction: dict) -> int:
    return reaction["user_id"]
