"""Celery beat schedules, kept in the database by django-celery-beat.

Each rule has its own periodic task running every `period` seconds; beat's
DatabaseScheduler notices changes, so an edited rule takes effect at its next
check without a restart, and a disabled rule stops.
"""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

EVALUATE_RULE_TASK = "automigrate.tasks.evaluate_rule"

# The fixed background jobs: (name, task, every seconds).
SYSTEM_TASKS = (
    ("automigrate: watch migrations", "automigrate.tasks.watch_migrations",
     settings.AUTOMIGRATE["WATCH_INTERVAL_SECONDS"]),
    ("automigrate: simulator samples", "automigrate.tasks.simulator_tick",
     settings.AUTOMIGRATE["SAMPLE_INTERVAL_SECONDS"]),
    ("automigrate: prune samples", "automigrate.tasks.prune_samples", 3600),
)


def rule_task_name(rule_pk: int) -> str:
    return f"automigrate: evaluate rule {rule_pk}"


def _interval(seconds: float) -> IntervalSchedule:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(1, int(seconds)), period=IntervalSchedule.SECONDS
    )
    return interval


def sync_rule_schedule(rule) -> PeriodicTask:
    task, _ = PeriodicTask.objects.update_or_create(
        name=rule_task_name(rule.pk),
        defaults={
            "task": EVALUATE_RULE_TASK,
            "interval": _interval(rule.period_seconds),
            "args": json.dumps([rule.pk]),
            "enabled": rule.enabled,
            "description": f"evaluates rule {rule.name}: {rule.describe()}",
        },
    )
    return task


def restart_rule_clock(rule_pk: int, batch_finished_at: datetime) -> None:
    """Count the rule's next check from the end of its batch.

    After a batch the rule waits one full window (settle time). With beat's
    own phase, the check after that could land seconds before the window ends
    and then wait a whole extra period; restarting the interval here makes the
    next check come right after the settle window instead. Saving the task
    also tells beat's DatabaseScheduler to reload it.
    """
    task = PeriodicTask.objects.filter(name=rule_task_name(rule_pk)).first()
    if task is not None:
        task.last_run_at = batch_finished_at + timedelta(seconds=1)
        task.save(update_fields=["last_run_at"])


def remove_rule_schedule(rule) -> None:
    PeriodicTask.objects.filter(name=rule_task_name(rule.pk)).delete()


def ensure_system_schedules() -> None:
    """Create or refresh the fixed jobs; the simulator tick only with the simulator source."""
    use_simulator = settings.AUTOMIGRATE["METRIC_SOURCE"] == "simulator"
    for name, task, every in SYSTEM_TASKS:
        enabled = use_simulator or task != "automigrate.tasks.simulator_tick"
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": _interval(every), "enabled": enabled}
        )
    from automigrate.models import MigrationRule

    for rule in MigrationRule.objects.all():
        sync_rule_schedule(rule)
