"""A real Celery worker for tests: celery.contrib.testing's embedded worker on the test broker.

The broker is CELERY_TEST_BROKER_URL (CI: Redis) or the in-memory broker when
unset. Tasks are routed exactly as settings.CELERY_TASK_ROUTES says, onto
queues whose names carry a suffix of this test run's own (a shared Redis may
have other consumers or stale messages), and the worker consumes all of them,
like `make run`'s.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connection

import automigrate.tasks  # noqa: F401 - registers the shared tasks on every Celery app


def _close_db_connection(**kwargs):
    # The worker's threads open their own connections; close them so the test database can be dropped.
    connection.close()


@contextmanager
def running_worker(pool: str = "solo", concurrency: int = 1) -> Iterator[Celery]:
    broker = os.environ.get("CELERY_TEST_BROKER_URL") or "memory://"
    suffix = f"-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    routes = {task: {"queue": route["queue"] + suffix} for task, route in settings.CELERY_TASK_ROUTES.items()}
    queues = [name + suffix for name in settings.CELERY_QUEUES_ALL]
    app = Celery("automigrate-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=broker, broker_transport_options={}, task_always_eager=False,
        task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE + suffix, task_routes=routes,
    )
    task_postrun.connect(_close_db_connection, weak=False)
    try:
        with start_worker(app, pool=pool, concurrency=concurrency, perform_ping_check=False,
                          shutdown_timeout=30, queues=queues):
            yield app
    finally:
        task_postrun.disconnect(_close_db_connection)
