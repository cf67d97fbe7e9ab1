"""Celery: time limits on every task, beat entries that expire, one queue per kind of work."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import PeriodicTask

from automigrate import tasks
from automigrate.celery import app
from automigrate.engine.model import CPU
from automigrate.services import schedule
from automigrate.services.rules import create_rule

TASKS = {
    "automigrate.tasks.simulator_tick": "sampling",
    "automigrate.tasks.sync_inventory": "sampling",
    "automigrate.tasks.sample_metrics": "sampling",
    "automigrate.tasks.evaluate_rule": "evaluation",
    "automigrate.tasks.prune_samples": "evaluation",
    "automigrate.tasks.watch_migrations": "watching",
    "automigrate.tasks.deliver_webhook": "sampling",
    "automigrate.tasks.check_notifications": "sampling",
    "automigrate.tasks.run_backtest": "evaluation",
    "automigrate.tasks.roll_up_samples": "evaluation",
}


def test_every_task_has_a_soft_and_a_hard_time_limit():
    ours = [t for name, t in vars(tasks).items() if hasattr(t, "soft_time_limit") and hasattr(t, "delay")]
    assert {t.name for t in ours} == set(TASKS)
    for task in ours:
        assert task.soft_time_limit and task.soft_time_limit > 0, task.name
        assert task.time_limit > task.soft_time_limit, task.name
    # Above what the watcher may wait for in one pass: every poll of a full in-flight set, and a start.
    conf = settings.AUTOMIGRATE
    one_pass = conf["MAX_IN_FLIGHT"] * conf["DRIVER_POLL_TIMEOUT_SECONDS"] + conf["DRIVER_START_TIMEOUT_SECONDS"]
    assert tasks.watch_migrations.soft_time_limit > one_pass


@pytest.mark.parametrize(("task", "queue"), TASKS.items())
def test_task_routes_put_each_task_on_its_queue(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_the_make_run_worker_consumes_every_queue():
    procfile = (Path(settings.BASE_DIR) / "automigrate" / "Procfile").read_text()
    worker = next(line for line in procfile.splitlines() if line.startswith("worker:"))
    consumed = re.search(r"-Q\s+(\S+)", worker).group(1).split(",")
    assert sorted(consumed) == sorted(settings.CELERY_QUEUES_ALL) == sorted(set(TASKS.values()))


def test_make_runs_worker_consumes_every_queue_too(settings):
    from automigrate import runner

    worker = runner._processes("127.0.0.1:8000")["worker"]
    consumed = worker[worker.index("-Q") + 1].split(",")
    assert sorted(consumed) == sorted(settings.CELERY_QUEUES_ALL)


@pytest.mark.django_db
def test_beat_entries_expire_after_their_period():
    schedule.ensure_system_schedules()
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "45s"})
    schedule.check_after_settling(rule, rule.created_at)
    entries = list(PeriodicTask.objects.select_related("interval"))
    assert len(entries) == len(schedule.SYSTEM_TASKS) + 2
    for entry in entries:
        period = entry.interval.every if entry.interval else rule.period_seconds
        assert entry.expire_seconds == period, entry.name
        assert entry.expires_ == period  # what beat hands Celery as the message's expiry


@pytest.mark.django_db
def test_postgresql_cancels_any_statement_past_the_statement_timeout():
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's; SQLite runs on one machine with its busy timeout")
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        shown = cursor.fetchone()[0]
    expected = int(settings.DATABASE_STATEMENT_TIMEOUT_SECONDS)
    assert shown in (f"{expected}s", f"{expected * 1000}ms", f"{expected // 60}min")
