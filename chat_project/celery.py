import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init
from django.conf import settings
from django.db import close_old_connections

from .common.frozen_heap import freeze_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

app = Celery("chat_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after
# each task unless told to reuse them: a fan-out task then spent a quarter of
# its time connecting to MariaDB (py-spy, docs/benchmarks.md). Its own reuse
# counter is switched off here; Django's rules apply instead (below).
app.conf.update(CELERY_DB_REUSE_MAX=2**62)
app.autodiscover_tasks()


def _recycle_db_connections(**kwargs) -> None:
    """Around each task, as around each request: keep a connection within CONN_MAX_AGE, drop a broken one.

    With CONN_HEALTH_CHECKS a kept connection is pinged before its first use
    in the next task, so a database restart costs one reconnect, not a failure.
    """
    close_old_connections()


task_prerun.connect(_recycle_db_connections, dispatch_uid="chat_task_db_connections_prerun", weak=False)
task_postrun.connect(_recycle_db_connections, dispatch_uid="chat_task_db_connections_postrun", weak=False)


def _freeze_startup_heap(**kwargs) -> None:
    """A pool process's heap after start-up (Django, Celery, the tasks' modules) lives as long as it.

    Frozen, the garbage collector never walks it again: its full collections
    walk only what the tasks left alive since (common/frozen_heap.py).
    """
    if settings.CHAT_GC_FREEZE:
        freeze_startup()


worker_process_init.connect(_freeze_startup_heap, dispatch_uid="chat_freeze_startup_heap", weak=False)
