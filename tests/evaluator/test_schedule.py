"""Beat runs each rule at its own period; a period change in the database changes the next run."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from automigrate.celery import app
from automigrate.engine.model import CPU
from automigrate.models import MigrationRule
from automigrate.services import schedule
from automigrate.services.rules import create_rule, set_enabled, update_rule
from automigrate.tasks import evaluate_rule


def beat_entry(rule, last_run_seconds_ago):
    task = PeriodicTask.objects.get(name=schedule.rule_task_name(rule.pk))
    task.last_run_at = timezone.now() - timedelta(seconds=last_run_seconds_ago)
    return task, ModelEntry(task, app=app)


@pytest.mark.django_db
def test_each_rule_gets_a_beat_task_calling_the_evaluator_with_its_id():
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    task = PeriodicTask.objects.get(name=schedule.rule_task_name(rule.pk))
    assert task.task == "automigrate.tasks.evaluate_rule" and json.loads(task.args) == [rule.pk]
    assert task.interval.every == 120


@pytest.mark.django_db
def test_a_period_change_changes_when_the_rule_is_next_evaluated():
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    _, entry = beat_entry(rule, 45)
    assert not entry.is_due().is_due, "45 s after a run, a 2m rule is not due"

    update_rule(rule, {"period": "30s"})

    _, entry = beat_entry(rule, 45)
    due = entry.is_due()
    assert due.is_due, "the same 45 s later, a 30s rule is due"
    assert due.next <= 30


@pytest.mark.django_db
def test_a_period_changed_straight_in_the_database_is_picked_up_at_the_next_run():
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    MigrationRule.objects.filter(pk=rule.pk).update(period_seconds=30)
    evaluate_rule(rule.pk)  # the beat task, run in-process
    assert PeriodicTask.objects.get(name=schedule.rule_task_name(rule.pk)).interval.every == 30


@pytest.mark.django_db
def test_a_disabled_rule_stops_being_scheduled_and_the_task_does_nothing():
    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    set_enabled(rule, False)
    assert not PeriodicTask.objects.get(name=schedule.rule_task_name(rule.pk)).enabled
    assert evaluate_rule(rule.pk).startswith("skipped")
    assert MigrationRule.objects.get(pk=rule.pk).last_evaluated_at is None


@pytest.mark.django_db
def test_a_rule_is_checked_again_right_after_its_settle_window():
    from automigrate.models import MigrationBatch
    from automigrate.services import execution

    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    for seconds_ago in (600, 100):  # two batches: the same one-off check is re-armed, not duplicated
        batch = MigrationBatch.objects.create(rule=rule, rule_name=rule.name)
        assert execution.finish_batch(batch, now=timezone.now() - timedelta(seconds=seconds_ago))

    check = PeriodicTask.objects.get(name=schedule.settle_check_name(rule.pk))
    assert check.one_off and check.enabled and json.loads(check.args) == [rule.pk]
    assert check.task == "automigrate.tasks.evaluate_rule"
    due = ModelEntry(check, app=app).is_due()
    assert not due.is_due, "100 s into a 2m settle window the rule is not checked"
    assert 19 <= due.next <= 22, "it is checked about 20 s later, just after the window ends"


@pytest.mark.django_db
def test_deleting_a_rule_removes_its_beat_tasks():
    from automigrate.models import MigrationBatch
    from automigrate.services import execution
    from automigrate.services.rules import delete_rule

    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    execution.finish_batch(MigrationBatch.objects.create(rule=rule, rule_name=rule.name))
    assert PeriodicTask.objects.filter(args=f"[{rule.pk}]").count() == 2
    delete_rule(rule)
    assert not PeriodicTask.objects.filter(args=f"[{rule.pk}]").exists()
