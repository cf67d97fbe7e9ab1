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
def test_the_next_check_after_a_batch_comes_right_after_its_settle_window():
    from automigrate.models import MigrationBatch
    from automigrate.services import execution

    rule = create_rule({"name": "r", "metric": CPU, "threshold": 60, "period": "2m"})
    batch = MigrationBatch.objects.create(rule=rule, rule_name=rule.name)
    finished = timezone.now() - timedelta(seconds=100)
    assert execution.finish_batch(batch, now=finished)

    task = PeriodicTask.objects.get(name=schedule.rule_task_name(rule.pk))
    due = ModelEntry(task, app=app).is_due()
    assert not due.is_due, "100 s into a 2m settle window the rule is not checked"
    assert 19 <= due.next <= 22, "it is checked about 20 s later, just after the window ends"
