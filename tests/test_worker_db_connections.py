"""Celery workers keep their database connection between tasks (CONN_MAX_AGE rules, no reconnect per task)."""

import MySQLdb
import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from chat_project.celery import app
from messaging.tasks import fan_out_batch

pytestmark = pytest.mark.django_db(transaction=True)


def _connection_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def test_the_worker_fixup_does_not_close_the_connection_around_tasks(settings):
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 300
    first = _connection_id()
    fixup = DjangoWorkerFixup(app)  # what a worker process installs
    for _ in range(3):
        fixup.on_task_prerun(sender=fan_out_batch)
        task_prerun.send(sender=fan_out_batch)
        _connection_id()
        fixup.on_task_postrun(sender=fan_out_batch)
        task_postrun.send(sender=fan_out_batch)
    assert _connection_id() == first


def test_a_broken_connection_is_replaced_before_the_next_task(settings):
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 300
    first = _connection_id()
    # The server drops this session, as a restart would (from another session:
    # a session cannot kill itself and go on).
    other = MySQLdb.connect(
        host=connection.settings_dict["HOST"],
        user=connection.settings_dict["USER"],
        password=connection.settings_dict["PASSWORD"],
        port=int(connection.settings_dict["PORT"] or 3306),
    )
    try:
        other.cursor().execute("KILL %s", (first,))
    finally:
        other.close()
    task_postrun.send(sender=fan_out_batch)
    task_prerun.send(sender=fan_out_batch)
    assert _connection_id() != first
