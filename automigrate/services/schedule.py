"""Celery beat schedules, kept in the database by django-celery-beat.

Each rule has its own periodic task running every `period` seconds; beat's
DatabaseScheduler notices changes, so an edited rule takes effect at its next
check without a restart, and a disabled rule stops.
"""

import json
from datetime import UTC, datetime

from django.conf import settings
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, PeriodicTask

from automigrate.engine import lifecycle
from automigrate.platforms import platform_class
from automigrate.sources import source_class

EVALUATE_RULE_TASK = "automigrate.tasks.evaluate_rule"

# The fixed background jobs: (name, task, every seconds).
SYSTEM_TASKS = (
    ("automigrate: watch migrations", "automigrate.tasks.watch_migrations",
     settings.AUTOMIGRATE["WATCH_INTERVAL_SECONDS"]),
    ("automigrate: simulator samples", "automigrate.tasks.simulator_tick",
     settings.AUTOMIGRATE["SAMPLE_INTERVAL_SECONDS"]),
    ("automigrate: prune samples", "automigrate.tasks.prune_samples", 3600),
    ("automigrate: roll up samples", "automigrate.tasks.roll_up_samples", 60),
    ("automigrate: notifications", "automigrate.tasks.check_notifications", 60),
    ("automigrate: sample metrics", "automigrate.tasks.sample_metrics",
     settings.AUTOMIGRATE["SAMPLE_INTERVAL_SECONDS"]),
    ("automigrate: inventory sync", "automigrate.tasks.sync_inventory",
     settings.AUTOMIGRATE["INVENTORY_SYNC_SECONDS"]),
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
            # A check not run within one period is dropped, not replayed after a stall.
            "expire_seconds": max(1, int(rule.period_seconds)),
            "description": f"evaluates rule {rule.name}: {rule.describe()}",
        },
    )
    return task


def settle_check_name(rule_pk: int) -> str:
    return f"automigrate: check rule {rule_pk} when its batch has settled"


def check_after_settling(rule, batch_finished_at: datetime) -> PeriodicTask:
    """One extra check of the rule right after its settle window ends.

    After a batch the rule waits one full window. Its regular checks keep
    beat's phase, so one could land seconds before the window ends and the
    next a whole period later. A one-off clocked task (one row per rule,
    re-armed after each batch) checks it at the right moment instead. Beat
    does write this row: after a one-off task runs it counts the run, and on
    its next look disables any one-off task whose `total_run_count` is above
    0. So re-arming sets `enabled` again and resets `total_run_count`;
    otherwise the next batch's check would never fire.
    """
    at = datetime.fromtimestamp(
        lifecycle.settle_check_at(batch_finished_at.timestamp(), rule.period_seconds), tz=UTC
    )
    task = PeriodicTask.objects.filter(name=settle_check_name(rule.pk)).select_related("clocked").first()
    if task is None:
        return PeriodicTask.objects.create(
            name=settle_check_name(rule.pk), task=EVALUATE_RULE_TASK, args=json.dumps([rule.pk]),
            clocked=ClockedSchedule.objects.create(clocked_time=at), one_off=True,
            expire_seconds=max(1, int(rule.period_seconds)),
            description=f"checks rule {rule.name} once its last batch has settled",
        )
    task.clocked.clocked_time = at
    task.clocked.save(update_fields=["clocked_time"])
    task.enabled = rule.enabled
    task.total_run_count = 0
    task.expire_seconds = max(1, int(rule.period_seconds))
    task.save(update_fields=["enabled", "total_run_count", "expire_seconds"])
    return task


def remove_rule_schedule(rule) -> None:
    for task in PeriodicTask.objects.filter(name__in=[rule_task_name(rule.pk), settle_check_name(rule.pk)]):
        task.delete()
        if task.clocked_id:
            ClockedSchedule.objects.filter(pk=task.clocked_id).delete()


def ensure_system_schedules() -> None:
    """Create or refresh the fixed jobs; the simulator tick only with the simulator source."""
    use_simulator = settings.AUTOMIGRATE["METRIC_SOURCE"] == "simulator"
    for name, task, every in SYSTEM_TASKS:
        enabled = use_simulator or task != "automigrate.tasks.simulator_tick"
        if task == "automigrate.tasks.sync_inventory":
            enabled = platform_class().has_inventory
        if task == "automigrate.tasks.roll_up_samples":
            enabled = source_class().reads_our_tables  # an external store keeps (and rolls up) its own
        if task == "automigrate.tasks.sample_metrics":
            enabled = hasattr(source_class(), "sample")
        PeriodicTask.objects.update_or_create(
            name=name,
            # expire_seconds: a run not started within one period is dropped, so a backlog
            # (a stalled worker, a broker outage) is not replayed all at once.
            defaults={"task": task, "interval": _interval(every), "enabled": enabled,
                      "expire_seconds": max(1, int(every))},
        )
    from automigrate.models import MigrationRule

    for rule in MigrationRule.objects.all():
        sync_rule_schedule(rule)
