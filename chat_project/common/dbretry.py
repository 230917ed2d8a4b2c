"""Whole transactions retried when the database (a Galera cluster behind haproxy) says "try again".

Which MySQL/MariaDB errors mean the transaction was not applied and may run
again from the start, and how long to wait between tries. The send
committer (messaging/accept.py) uses the same codes and back-off with its
own re-check of what was stored; the other write paths (mark read, recall,
profile update) run their transaction through ``run_transaction``.

- 1213 deadlock, which Galera also answers when a transaction fails
  certification (another node's write-set won);
- 1205 lock wait timeout;
- 1047 WSREP not ready: the node left the primary component (haproxy moves
  to a backup once its check fails);
- 2006 server gone away, 2013 lost connection, 1927 connection killed: the
  node (or haproxy) went away; the next try opens a new connection.

A lost connection during COMMIT leaves the outcome unknown: retry only
transactions that are idempotent (each path here re-reads what it changes).
After the last try the caller gets ``Unavailable`` (503 with Retry-After, or
an error frame).
"""

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection, transaction

from .errors import Unavailable

logger = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({1205, 1213, 1047, 2006, 2013, 1927})
# Codes after which this connection is useless: close it, the next try reconnects.
CONNECTION_LOST_CODES = frozenset({1047, 2006, 2013, 1927})
ATTEMPTS = 4
BACKOFF_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0

T = TypeVar("T")


def error_code(exc: BaseException) -> int | None:
    if isinstance(exc, OperationalError | InterfaceError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def is_retryable(exc: BaseException) -> bool:
    # An InterfaceError (0, '') is a connection Django or the driver already knows is closed.
    return error_code(exc) in RETRYABLE_CODES or isinstance(exc, InterfaceError)


def recover(exc: BaseException, attempt: int) -> None:
    """Between two tries: drop a broken connection, then wait (exponential, with jitter)."""
    if error_code(exc) in CONNECTION_LOST_CODES or isinstance(exc, InterfaceError):
        connection.close()
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt)
    time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, no secret


def run_transaction(body: Callable[[], T], what: str, attempts: int = ATTEMPTS) -> T:
    """``body`` in ``transaction.atomic()``, run again whole on a retryable error.

    Inside an enclosing transaction it runs once: only the outermost block can
    be retried (its caller's). ``on_commit`` callbacks of a failed try are
    discarded with it.
    """
    if connection.in_atomic_block:
        return body()
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return body()
        except (OperationalError, InterfaceError) as exc:
            if not is_retryable(exc):
                raise
            if attempt + 1 == attempts:
                logger.warning("%s failed %d times (%s); giving up", what, attempts, exc)
                connection.close()
                raise Unavailable("The database is not answering; try again shortly.") from exc
            logger.info("%s: %s; trying again", what, exc)
            recover(exc, attempt)
    raise AssertionError("unreachable")  # pragma: no cover
