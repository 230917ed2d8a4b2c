"""Sending Web Push messages: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 (VAPID) signing.

One call sends a batch: the muted conversations and the messages over a
user's push rate are left out, the subscriptions of every recipient come in
one query, the requests go out on a small thread pool, each with a connect
and a read timeout, and the subscriptions answered 404 or 410 are deleted in
one statement. Best effort: a push that fails is logged and not retried (a
retry of the batch would push again to the subscriptions that did get it);
the client catches up with ``sync`` when it opens.
"""

import base64
import ipaddress
import json
import logging
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from urllib.parse import urlsplit

import http_ece  # type: ignore[import-untyped]  # no stubs, no py.typed
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from chat_project.common.ratelimit import count_events

from .endpoints import endpoint_problem
from .keys import vapid
from .models import PushSubscription
from .services import Notification, muted_among, payload_for

logger = logging.getLogger(__name__)

# RFC 8292: the JWT may live at most 24 h; pushes are signed fresh each batch.
JWT_LIFETIME_SECONDS = 12 * 3600
GONE = {404, 410}


class Report(NamedTuple):
    sent: int
    failed: int
    deleted: int
    skipped: int


def deliver_batch(notifications: list[Notification]) -> Report:
    muted = muted_among(notifications)
    wanted = [n for n in notifications if (n.recipient_id, n.conversation_id) not in muted]
    allowed = _within_rate(wanted)
    skipped = len(notifications) - len(allowed)
    subscriptions: dict[int, list[PushSubscription]] = defaultdict(list)
    for subscription in PushSubscription.objects.filter(user_id__in={n.recipient_id for n in allowed}).order_by("id"):
        subscriptions[subscription.user_id].append(subscription)
    jobs = [(s, n) for n in allowed for s in subscriptions[n.recipient_id]]
    if not jobs:
        return Report(0, 0, 0, skipped)
    with ThreadPoolExecutor(max_workers=min(len(jobs), settings.CHAT_WEBPUSH_CONCURRENCY)) as pool:
        statuses = list(pool.map(lambda job: _send(*job), jobs))
    gone = {s.pk for (s, _n), status in zip(jobs, statuses, strict=True) if status in GONE}
    if gone:
        PushSubscription.objects.filter(pk__in=gone).delete()
    sent = sum(1 for status in statuses if status is not None and 200 <= status < 300)
    return Report(sent, len(jobs) - sent, len(gone), skipped)


def _within_rate(notifications: list[Notification]) -> list[Notification]:
    """At most CHAT_WEBPUSH_RATE pushes per recipient; over it, the newest of the batch are kept."""
    if not settings.CHAT_RATE_LIMITS or not notifications:
        return notifications
    limit, period = settings.CHAT_WEBPUSH_RATE
    per_user: dict[int, list[Notification]] = defaultdict(list)
    for n in notifications:
        per_user[n.recipient_id].append(n)
    counts = count_events("webpush", {f"u{u}": len(ns) for u, ns in per_user.items()}, period)
    kept: list[Notification] = []
    for user_id, ns in per_user.items():
        after, _retry_after = counts[f"u{user_id}"]
        room = max(0, limit - (after - len(ns)))
        kept.extend(sorted(ns, key=lambda n: n.msg_id)[len(ns) - room :] if room else [])
    return kept


def _send(subscription: PushSubscription, notification: Notification) -> int | None:
    """POST one encrypted message; the push service's status, or None when it could not be asked."""
    problem = endpoint_problem(subscription.endpoint)
    if not problem and settings.CHAT_WEBPUSH_LOCAL_ONLY and not _loopback(subscription.endpoint):
        problem = "CHAT_WEBPUSH_LOCAL_ONLY: only a push service on this machine is asked"
    if problem:
        # The host moved to a private address since it was stored: never POST there.
        logger.warning("web push to subscription %s refused: %s", subscription.pk, problem)
        return None
    body = encrypt(json.dumps(payload_for(notification)).encode(), subscription.p256dh, subscription.auth)
    parts = urlsplit(subscription.endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "sub": settings.CHAT_WEBPUSH_SUBJECT,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    headers = {
        **vapid().sign(claims),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(settings.CHAT_WEBPUSH_TTL_SECONDS),
        "Urgency": "high",
    }
    try:
        response = requests.post(
            subscription.endpoint,
            data=body,
            headers=headers,
            timeout=(settings.CHAT_WEBPUSH_CONNECT_TIMEOUT_SECONDS, settings.CHAT_WEBPUSH_TIMEOUT_SECONDS),
            # A redirect could lead anywhere, past the address check.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        logger.warning("web push to subscription %s failed: %s", subscription.pk, exc)
        return None
    if response.status_code >= 300 and response.status_code not in GONE:
        logger.warning("web push to subscription %s answered %s", subscription.pk, response.status_code)
    return response.status_code


def encrypt(plaintext: bytes, p256dh: str, auth: str) -> bytes:
    """RFC 8291 aes128gcm: a fresh server key pair and salt per message, the browser's keys from its subscription."""
    return http_ece.encrypt(
        plaintext,
        salt=os.urandom(16),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=_b64decode(p256dh),
        auth_secret=_b64decode(auth),
        version="aes128gcm",
    )


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _loopback(endpoint: str) -> bool:
    try:
        return ipaddress.ip_address((urlsplit(endpoint).hostname or "").strip("[]")).is_loopback
    except ValueError:
        return urlsplit(endpoint).hostname == "localhost"
