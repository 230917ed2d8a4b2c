"""Per-user conversation settings (PROTOCOL.md 1.2): muted, pinned, archived.

Each setting is the requesting user's alone. ``t_conversation_setting`` is
the truth (a row once a user changed a setting of a conversation); each
user's settings are cached in Redis (conversations/store.py) so that the
conversation page stays free of SQL. A change bumps the cache's counter and
drops it; the next reader rebuilds it.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat_project.common.errors import InvalidInput
from chat_project.common.ratelimit import check_rate
from profiles.models import User

from . import store
from .inputs import ConversationSettings
from .models import ConversationSetting

logger = logging.getLogger(__name__)

MAX_PINNED = 5


def muted_among(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (user_id, conversation_id) pairs the user muted, in one query (none for an empty set)."""
    if not pairs:
        return set()
    rows = ConversationSetting.objects.filter(
        user_id__in={u for u, _ in pairs}, conversation_id__in={c for _, c in pairs}, muted=True
    ).values_list("user_id", "conversation_id")
    return {row for row in rows if row in pairs}


def update_settings(user_id: int, conversation_id: int, changes: ConversationSettings) -> None:
    """Apply the settings named in ``changes`` (the caller checked the user takes part)."""
    check_rate("conversation_settings", f"u{user_id}", settings.CHAT_CONVERSATION_SETTINGS_RATE)
    if changes.muted is None and changes.pinned is None and changes.archived is None:
        return
    with transaction.atomic():
        # One user's pins are counted under a lock of their own row: two pins at
        # once cannot make a sixth.
        User.objects.select_for_update().filter(pk=user_id).values_list("pk").first()
        row, _ = ConversationSetting.objects.get_or_create(user_id=user_id, conversation_id=conversation_id)
        if changes.pinned and not row.pinned:
            pinned = ConversationSetting.objects.filter(user_id=user_id, pinned=True).count()
            if pinned >= MAX_PINNED:
                raise InvalidInput.field("pinned", f"At most {MAX_PINNED} conversations can be pinned.")
            row.pinned_at = timezone.now()
        for name in ("muted", "pinned", "archived"):
            value = getattr(changes, name)
            if value is not None:
                setattr(row, name, value)
        row.save()
        transaction.on_commit(lambda: _forget(user_id))


def _forget(user_id: int) -> None:
    try:
        store.forget_settings(user_id)
    except Exception:
        logger.warning("could not drop the cached conversation settings of %s", user_id, exc_info=True)


def rebuild_settings(user_id: int, version: str) -> dict[int, store.Setting]:
    rows = ConversationSetting.objects.filter(user_id=user_id).values_list(
        "conversation_id", "muted", "pinned", "archived"
    )
    found = {cid: store.Setting(muted, pinned, archived) for cid, muted, pinned, archived in rows}
    store.write_settings(user_id, version, found)
    return found
