"""HTTP request threads hand their MariaDB connection on (chat_project/dbpool): reused, never a dead or dirty one."""

import threading
import time

import MySQLdb
import pytest
from django.db import OperationalError, close_old_connections, connection, connections, transaction

from chat_project.dbpool import base as dbpool

pytestmark = pytest.mark.django_db(transaction=True)


def in_a_thread(work):
    """Run ``work()`` as a request thread would: its own connection, handed on (or closed) at the end."""
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = work()
        finally:
            for conn in connections.all(initialized_only=True):
                if not dbpool.park(conn):
                    conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["value"]


def scalar(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def connection_id() -> int:
    return scalar("SELECT CONNECTION_ID()")


@pytest.fixture(autouse=True)
def empty_pool():
    dbpool._queue("default").queue.clear()
    yield
    while not dbpool._queue("default").empty():
        dbpool._close_quietly(dbpool._queue("default").get_nowait()[0])


def test_the_next_request_thread_reuses_the_connection_of_the_last(alice):
    first = in_a_thread(connection_id)
    assert in_a_thread(connection_id) == first
    # And it works as a fresh one would: queries, autocommit, the session's settings.
    assert in_a_thread(lambda: connection.get_autocommit()) is True
    assert in_a_thread(lambda: scalar("SELECT @@SQL_AUTO_IS_NULL")) == 0


def test_a_dead_parked_connection_is_replaced(alice):
    first = in_a_thread(connection_id)
    kill(first)
    second = in_a_thread(connection_id)
    assert second != first
    assert in_a_thread(connection_id) == second


def test_a_connection_inside_a_transaction_or_after_an_error_is_closed_not_parked(alice):
    def inside_atomic():
        with transaction.atomic():
            connection_id()
            return dbpool.park(connection)

    assert in_a_thread(inside_atomic) is False

    def after_an_error():
        connection_id()
        connection.errors_occurred = True
        return dbpool.park(connection)

    assert in_a_thread(after_an_error) is False
    assert dbpool._queue("default").empty()


def kill(connection_id_to_kill: int) -> None:
    settings = connection.settings_dict
    killer = MySQLdb.connect(
        host=settings["HOST"], user=settings["USER"], password=settings["PASSWORD"], port=int(settings["PORT"] or 3306)
    )
    try:
        killer.cursor().execute("KILL %s", (connection_id_to_kill,))  # as a database restart would
    finally:
        killer.close()


@pytest.fixture
def pings(monkeypatch):
    """How many health-check pings the kept connections got."""
    count = [0]
    real = dbpool.DatabaseWrapper.is_usable

    def counted(self):
        count[0] += 1
        return real(self)

    monkeypatch.setattr(dbpool.DatabaseWrapper, "is_usable", counted)
    return count


def next_unit_of_work() -> None:
    """What Celery's task signals and Channels' database_sync_to_async do between two units of work."""
    close_old_connections()


def test_a_connection_busy_within_the_second_is_not_pinged_one_idle_longer_is(alice, pings):
    first = connection_id()
    next_unit_of_work()
    assert connection_id() == first
    assert pings[0] == 0

    connection._last_query = time.monotonic() - dbpool.HEALTH_CHECK_IDLE_SECONDS - 0.1
    next_unit_of_work()
    assert connection_id() == first
    assert pings[0] == 1


def test_a_restart_while_idle_costs_nothing_a_restart_within_the_second_one_statement(alice):
    first = connection_id()
    kill(first)
    connection._last_query = time.monotonic() - dbpool.HEALTH_CHECK_IDLE_SECONDS - 0.1
    next_unit_of_work()
    second = connection_id()  # pinged, found dead, replaced: the caller sees nothing
    assert second != first

    kill(second)
    next_unit_of_work()
    with pytest.raises(OperationalError):
        connection_id()  # used within the second: not pinged, so this statement fails
    next_unit_of_work()  # the error marks the connection: checked and replaced
    assert connection_id() not in (first, second)
