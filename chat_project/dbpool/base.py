"""MariaDB/MySQL backend whose HTTP request threads hand their connection on instead of closing it.

Under ASGI each HTTP request runs its sync code in a thread of its own (a
new one per request in Django's handler, a kept one handed to one request at
a time in chat_project/sync_chain.py), so Django's persistent connections
(CONN_MAX_AGE) died with the request, and every request that touched the
database paid for a new connection: TCP, authentication, ``init_command``
and the session set-up queries (docs/benchmarks.md, the history page). At
the end of a request chat_project/asgi.py parks the thread's connection here
(``park``); the next connection any thread of this process opens takes a
parked one, pinged first, with its session already set up. Parked rather
than kept by its thread: a process holds at most PARKED_MAX idle
connections, however many request threads a burst left behind.

Only a connection in autocommit with no error, outside any atomic block,
younger than CONN_MAX_AGE, is parked; anything else is closed as before.
Long-lived threads (the send committer, the socket pool, Celery) keep their
own connections under CONN_MAX_AGE and never park them.
"""

import contextlib
import queue
import time

from django.db.backends.mysql import base as mysql

# How many idle connections a process keeps at most (beyond: closed).
PARKED_MAX = 8

_parked: dict[str, queue.LifoQueue] = {}


def _queue(alias: str) -> queue.LifoQueue:
    return _parked.setdefault(alias, queue.LifoQueue(maxsize=PARKED_MAX))


class DatabaseWrapper(mysql.DatabaseWrapper):
    _reused = False
    _born = 0.0

    def get_new_connection(self, conn_params):
        parked = _queue(self.alias)
        while True:
            try:
                connection, born = parked.get_nowait()
            except queue.Empty:
                break
            if self._too_old(born):
                _close_quietly(connection)
                continue
            try:
                connection.ping()  # one round trip; a dead one (a restart) raises
            except Exception:
                _close_quietly(connection)
                continue
            self._reused, self._born = True, born
            return connection
        self._reused, self._born = False, time.monotonic()
        return super().get_new_connection(conn_params)

    def init_connection_state(self) -> None:
        # A parked connection keeps its session: SQL_AUTO_IS_NULL and the
        # isolation level were set when it was opened, autocommit is on.
        if not self._reused:
            super().init_connection_state()

    def _too_old(self, born: float) -> bool:
        max_age = self.settings_dict["CONN_MAX_AGE"]
        return max_age is not None and time.monotonic() - born > max_age


def park(wrapper) -> bool:
    """Keep the wrapper's connection for another thread of this process; False: close it instead."""
    connection = wrapper.connection
    if (
        not isinstance(wrapper, DatabaseWrapper)
        or connection is None
        or wrapper.in_atomic_block
        or wrapper.errors_occurred
        or not wrapper.get_autocommit()
        or wrapper._too_old(wrapper._born)
    ):
        return False
    try:
        _queue(wrapper.alias).put_nowait((connection, wrapper._born))
    except queue.Full:
        return False
    wrapper.connection = None  # the wrapper dies with its thread; the connection lives on
    return True


def _close_quietly(connection) -> None:
    with contextlib.suppress(Exception):  # it is being thrown away
        connection.close()
