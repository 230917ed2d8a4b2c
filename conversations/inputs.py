"""What clients send to the conversations endpoints, declared once (chat_project/common/inputs.py)."""

from typing import NamedTuple

from rest_framework import serializers

from chat_project.common.errors import InvalidInput
from chat_project.common.inputs import Field, Input


class ConversationSettings(NamedTuple):
    """PATCH conversations/{id} (PROTOCOL.md 1.2): None for a setting the body does not name."""

    muted: bool | None
    pinned: bool | None
    archived: bool | None


def check_bool(name: str, value: object) -> bool:
    """A JSON boolean (0, 1, "true" and null are not)."""
    if not isinstance(value, bool):
        raise InvalidInput.field(name, "Must be true or false.")
    return value


def _setting(help_text: str) -> Field:
    return Field(check_bool, serializers.BooleanField(help_text=help_text), required=False)


CONVERSATION_SETTINGS = Input(
    "ConversationSettings",
    ConversationSettings,
    muted=_setting("no notifications for it; changes no count or frame"),
    pinned=_setting("listed first (at most 5 pinned)"),
    archived=_setting("left out of the list; listed with ?archived=true"),
)
