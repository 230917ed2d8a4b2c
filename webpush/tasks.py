"""The ``webpush`` queue: Web Push to the users who had no socket when a message arrived.

Its own queue and worker, not ``realtime``: a push service is a stranger's
HTTP server, and one slow to answer would hold a realtime worker (prefetch 1)
and delay every socket's messages behind it. Here it delays only other pushes.
"""

import logging
from collections.abc import Iterable

from celery import shared_task
from django.db import transaction

from .delivery import deliver_batch
from .models import PushSubscription
from .services import Notification

logger = logging.getLogger(__name__)


def notify_offline(notifications: Iterable[Notification]) -> None:
    """One ``deliver`` task for the messages to users with a subscription, enqueued once the current
    transaction commits.

    Most users without a socket have no subscription (an API client, a browser
    that never allowed notifications): one indexed query here saves them a
    task through the broker and the worker for every message they receive.
    """
    wanted = list(notifications)
    if not wanted:
        return
    subscribed = set(
        PushSubscription.objects.filter(user_id__in={n.recipient_id for n in wanted}).values_list("user_id", flat=True)
    )
    payloads = [list(n) for n in wanted if n.recipient_id in subscribed]
    if payloads:
        transaction.on_commit(lambda: _enqueue(payloads))


def _enqueue(payloads: list[list]) -> None:
    # Best effort: a broker that cannot take the task costs these notifications,
    # never the realtime fan-out that called (it must not fail and push again).
    try:
        deliver.apply_async((payloads,), queue="webpush")
    except Exception:
        logger.warning("web push of %d message(s) not enqueued", len(payloads), exc_info=True)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deliver(payloads: list[list]) -> dict:
    report = deliver_batch([Notification(*p) for p in payloads])
    if report.failed or report.deleted:
        logger.info("web push: %s", report._asdict())
    return report._asdict()
