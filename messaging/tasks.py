"""The async pipeline's tasks.

``realtime``: fan_out_batch, once per accepted batch of messages.
``retry``: the same task after a failure, with exponential back-off.
``delayed``: the sweepers, run by beat: every CHAT_SWEEP_INTERVAL_SECONDS one
re-drives fan-out that never finished (a worker killed between accept and
fan-out, a broker that lost the task); every CHAT_ATTACHMENT_SWEEP_INTERVAL_SECONDS
the other deletes uploads never attached and recalled messages' files.
Every task is idempotent, so at-least-once delivery is safe.
"""

import logging

from celery import shared_task
from django.conf import settings

from . import attachments, fanout
from .admission import report_fan_out_lag

logger = logging.getLogger(__name__)

MAX_FAN_OUT_RETRIES = 8
SWEEP_LIMIT = 2000
SWEEP_BATCH = 200


def retry_countdown(retries: int) -> int:
    """1, 2, 4 … 60 s: short, far below the broker's visibility timeout."""
    return min(60, 2**retries)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_FAN_OUT_RETRIES)
def fan_out_batch(self, msg_ids: list[int], projected: bool = False) -> None:
    if projected and self.request.retries == 0:
        # How far behind the workers are (sends are refused beyond a bound); retries and sweeps are old by nature.
        report_fan_out_lag(msg_ids)
    try:
        # A retry re-applies the copies too: the failure may have left them half written.
        fanout.fan_out_batch(msg_ids, projected=projected and self.request.retries == 0)
    except Exception as exc:
        if self.request.retries >= MAX_FAN_OUT_RETRIES:
            # Left unfinished in the database; the sweeper tries again later.
            logger.error("fan-out of %d message(s) gave up after %s retries", len(msg_ids), self.request.retries)
            return
        logger.warning("fan-out of %d message(s) failed (%s); retrying", len(msg_ids), exc)
        raise self.retry(exc=exc, queue="retry", countdown=retry_countdown(self.request.retries)) from exc


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def fan_out_message(self, msg_id: int, projected: bool = False) -> None:
    """One message: tasks queued by the previous release, before fan-out came in batches."""
    fan_out_batch.apply_async(([msg_id], projected), queue="realtime")


@shared_task(acks_late=True)
def sweep_unfinished_fan_out() -> int:
    msg_ids = fanout.unfinished_fan_out(settings.CHAT_FAN_OUT_STALE_SECONDS, SWEEP_LIMIT)
    for start in range(0, len(msg_ids), SWEEP_BATCH):
        fan_out_batch.apply_async((msg_ids[start : start + SWEEP_BATCH], False), queue="realtime")
    if msg_ids:
        logger.info("sweeper re-drove fan-out of %d message(s)", len(msg_ids))
    return len(msg_ids)


@shared_task(acks_late=True)
def sweep_attachments() -> int:
    """Uploads never attached after CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS, and recalled messages' files."""
    deleted = attachments.sweep_attachments()
    if deleted:
        logger.info("attachment sweeper deleted %d attachment(s)", deleted)
    return deleted
