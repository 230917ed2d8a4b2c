"""HTTP request threads hand their MariaDB connection on (chat_project/dbpool): reused, never a dead or dirty one."""

import threading

import MySQLdb
import pytest
from django.db import connection, connections, transaction

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
    settings = connection.settings_dict
    killer = MySQLdb.connect(
        host=settings["HOST"], user=settings["USER"], password=settings["PASSWORD"], port=int(settings["PORT"] or 3306)
    )
    try:
        killer.cursor().execute("KILL %s", (first,))  # as a database restart would
    finally:
        killer.close()
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
