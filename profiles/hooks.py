"""What profiles needs from an app above it, handed over at start-up.

``profiles`` is the bottom app (docs/architecture.md) and may not import
``conversations``. One rule needs it: a deactivated user's profile is shown
only to users who share a conversation with them (PROTOCOL.md 1.1
``GET users/{id}``). ``conversations`` registers that check in its
``AppConfig.ready``.
"""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

_shares_conversation: Callable[[int, int], bool] | None = None


def register_shares_conversation(check: Callable[[int, int], bool]) -> None:
    global _shares_conversation
    _shares_conversation = check


def shares_conversation(user_a: int, user_b: int) -> bool:
    """True when the two users have exchanged a message."""
    if _shares_conversation is None:
        raise ImproperlyConfigured("The conversations app registers profiles.hooks.register_shares_conversation.")
    return _shares_conversation(user_a, user_b)
