"""Web Push (PROTOCOL.md 1.2): subscriptions, and what to tell a user who has no socket.

The fan-out hands the messages whose recipient had no socket to
``webpush.tasks.notify_offline``; the sending is in ``delivery.py``.
"""

import hashlib
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction

from chat_project.common.ratelimit import check_rate
from conversations import conversation_settings

from .inputs import Subscribe
from .keys import application_server_key
from .models import PushSubscription

PREVIEW_CODE_POINTS = 100


class Notification(NamedTuple):
    """One message for one offline recipient, as the fan-out knows it."""

    recipient_id: int
    conversation_id: int
    msg_id: int
    sender_id: int
    sender_nickname: str
    content: str


def public_key() -> dict:
    return {"public_key": application_server_key()}


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def subscribe(user_id: int, subscription: Subscribe) -> None:
    """Store (or refresh) a subscription; idempotent per endpoint, at most CHAT_WEBPUSH_MAX_SUBSCRIPTIONS per user.

    An endpoint belongs to one browser profile: subscribing it again (after a
    log-in as someone else, say) moves it to the new user. Past the bound the
    oldest go: a browser that renews its subscription leaves the old one behind.
    """
    check_rate("webpush-subscriptions", f"u{user_id}", settings.CHAT_WEBPUSH_SUBSCRIBE_RATE)
    digest = endpoint_hash(subscription.endpoint)
    values = {
        "user_id": user_id,
        "endpoint": subscription.endpoint,
        "p256dh": subscription.p256dh,
        "auth": subscription.auth,
    }
    try:
        with transaction.atomic():
            PushSubscription.objects.update_or_create(endpoint_hash=digest, defaults=values)
    except IntegrityError:
        # Two requests with one endpoint at once: the other inserted it first.
        PushSubscription.objects.filter(endpoint_hash=digest).update(**values)
    keep = list(
        PushSubscription.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[: settings.CHAT_WEBPUSH_MAX_SUBSCRIPTIONS]
    )
    PushSubscription.objects.filter(user_id=user_id).exclude(id__in=keep).delete()


def unsubscribe(user_id: int, endpoint: str) -> None:
    """Idempotent: an unknown endpoint (or someone else's) changes nothing."""
    check_rate("webpush-subscriptions", f"u{user_id}", settings.CHAT_WEBPUSH_SUBSCRIBE_RATE)
    PushSubscription.objects.filter(user_id=user_id, endpoint_hash=endpoint_hash(endpoint)).delete()


def muted_among(notifications: list[Notification]) -> set[tuple[int, int]]:
    """The (recipient, conversation) pairs of ``notifications`` their recipient muted (PROTOCOL.md 1.2)."""
    return conversation_settings.muted_among({(n.recipient_id, n.conversation_id) for n in notifications})


def payload_for(notification: Notification) -> dict:
    """The JSON the service worker receives: ids always, nickname and preview unless CHAT_WEBPUSH_PREVIEW=off."""
    payload: dict = {
        "conversation_id": notification.conversation_id,
        "msg_id": notification.msg_id,
        "sender_id": notification.sender_id,
    }
    if settings.CHAT_WEBPUSH_PREVIEW:
        payload["sender_nickname"] = notification.sender_nickname
        content = notification.content
        payload["preview"] = (
            content if len(content) <= PREVIEW_CODE_POINTS else content[: PREVIEW_CODE_POINTS - 1] + "…"
        )
    return payload
