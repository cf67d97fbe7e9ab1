"""Celery tasks: thin wrappers, each calling one service function.

Beat runs ``evaluate_rule`` per rule at the rule's period (django-celery-beat,
see services/schedule.py), and the system jobs at fixed intervals. Each task
has a soft and a hard time limit (settings, per kind of task) and its own
queue (settings.CELERY_TASK_ROUTES); beat's entries expire after one period.
"""

from celery import shared_task
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from automigrate.models import MigrationRule


def _limits(kind: str) -> dict[str, float]:
    """Celery's soft and hard time limits for one kind of task (SAMPLING, EVALUATION, WATCH)."""
    soft = float(settings.AUTOMIGRATE[f"{kind}_TASK_TIME_LIMIT_SECONDS"])
    return {"soft_time_limit": soft, "time_limit": soft + float(settings.AUTOMIGRATE["TASK_HARD_LIMIT_GRACE_SECONDS"])}


@shared_task(name="automigrate.tasks.evaluate_rule", ignore_result=True, **_limits("EVALUATION"))
def evaluate_rule(rule_pk: int) -> str:
    from automigrate.services import evaluate, schedule

    rule = MigrationRule.objects.filter(pk=rule_pk).first()
    if rule is None or not rule.enabled:
        return "skipped: rule deleted or disabled"
    # A period changed straight in the database (not through the services) fixes its schedule here;
    # only on a mismatch, because every PeriodicTask save makes beat reload all schedules.
    if not PeriodicTask.objects.filter(
        name=schedule.rule_task_name(rule.pk), interval__every=rule.period_seconds, enabled=True
    ).exists():
        schedule.sync_rule_schedule(rule)
    return str(evaluate.evaluate_rule(rule))


@shared_task(name="automigrate.tasks.watch_migrations", ignore_result=True, **_limits("WATCH"))
def watch_migrations() -> str:
    from automigrate.services import execution

    return str(execution.watch_migrations())


@shared_task(name="automigrate.tasks.simulator_tick", ignore_result=True, **_limits("SAMPLING"))
def simulator_tick() -> str:
    from automigrate.simulator import cluster

    hosts, guests = cluster.tick()
    return f"{hosts} host and {guests} guest samples"


@shared_task(name="automigrate.tasks.prune_samples", ignore_result=True, **_limits("EVALUATION"))
def prune_samples() -> str:
    from automigrate.services import metrics, retention

    samples = metrics.prune_samples()
    history = retention.prune_history()
    return f"{samples}; {history}"


@shared_task(name="automigrate.tasks.roll_up_samples", ignore_result=True, **_limits("EVALUATION"))
def roll_up_samples() -> str:
    from automigrate.services import rollups

    return str(rollups.roll_up())


@shared_task(name="automigrate.tasks.deliver_webhook", bind=True, ignore_result=True, max_retries=None,
             **_limits("SAMPLING"))
def deliver_webhook(self, delivery_id: int) -> str:
    from automigrate.services import notify

    wait = notify.deliver(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)  # back-off; the delivery row counts the attempts
    return f"delivery {delivery_id} done"


@shared_task(name="automigrate.tasks.check_notifications", ignore_result=True, **_limits("SAMPLING"))
def check_notifications() -> str:
    from automigrate.services import notify

    conditions = notify.check_conditions()
    return f"re-queued {notify.retry_due()} webhook deliveries; {len(conditions)} condition alert(s)"


@shared_task(name="automigrate.tasks.sync_inventory", ignore_result=True, **_limits("SAMPLING"))
def sync_inventory() -> str:
    from automigrate.services import inventory

    return str(inventory.sync_inventory())


@shared_task(name="automigrate.tasks.sample_metrics", ignore_result=True, **_limits("SAMPLING"))
def sample_metrics() -> str:
    from automigrate.services import metrics

    return metrics.sample_source()


@shared_task(name="automigrate.tasks.run_backtest", ignore_result=True, **_limits("BACKTEST"))
def run_backtest(run_pk: int) -> str:
    from automigrate.services import backtest

    return backtest.execute_run(run_pk)
