"""Creating, changing and deleting a rule writes its event, whoever does it."""

import pytest
from django_celery_beat.models import PeriodicTask

from automigrate.models import Event, MigrationRule
from automigrate.services.rules import create_rule, delete_rule, set_enabled, update_rule

pytestmark = pytest.mark.django_db


def test_creating_a_rule_records_a_create_event_with_the_reference_notes(operator):
    rule = create_rule({"name": "test-cpu", "threshold": 60, "period": "2m"}, user=operator)
    event = Event.objects.get()
    assert event.action == "create"
    assert event.user == "operator"
    assert event.notes["id"] == rule.pk
    assert event.notes["name"] == "test-cpu"
    assert event.notes["res_name"] == "migrationalert"
    assert rule.created_by == operator


def test_updating_a_rule_records_what_changed(operator, make_host):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    update_rule(rule, {"threshold": 70, "source_hosts": [make_host("a15")]}, user=operator)
    event = Event.objects.filter(action="update").get()
    assert event.notes["changes"]["threshold"] == {"before": 60, "after": 70}
    assert event.notes["changes"]["source_hosts"] == {"before": [], "after": ["a15"]}
    assert "60.0 → 70" in event.summary or "60 → 70" in event.summary


def test_an_update_that_changes_nothing_records_nothing():
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    update_rule(rule, {"threshold": 60})
    assert Event.objects.count() == 1


def test_disabling_a_rule_records_disable_and_pauses_its_schedule(operator):
    rule = create_rule({"name": "test-cpu", "threshold": 60, "period": "2m"})
    task = PeriodicTask.objects.get(args=f"[{rule.pk}]")
    assert task.enabled and task.interval.every == 120
    set_enabled(rule, False, user=operator)
    assert Event.objects.filter(action="disable", user="operator").exists()
    task.refresh_from_db()
    assert not task.enabled


def test_deleting_a_rule_keeps_its_events_with_its_id_and_name(staff):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    rule_pk = rule.pk
    delete_rule(rule, user=staff)
    assert not MigrationRule.objects.exists()
    assert not PeriodicTask.objects.filter(args=f"[{rule_pk}]").exists()
    actions = {e.action: e for e in Event.objects.filter(rule_ref=rule_pk)}
    assert set(actions) == {"create", "delete"}
    assert actions["delete"].rule_name == "test-cpu"
    assert actions["delete"].user == "boss"


def test_events_are_append_only():
    create_rule({"name": "test-cpu", "threshold": 60})
    event = Event.objects.get()
    event.summary = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        Event.objects.all().delete()
    with pytest.raises(PermissionError):
        Event.objects.update(summary="x")


@pytest.mark.django_db(transaction=True)
def test_the_operators_group_and_lock_row_survive_a_flush():
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from automigrate.models import MigrationLock

    call_command("flush", interactive=False, verbosity=0)
    assert Group.objects.filter(name="operators").exists()
    assert MigrationLock.objects.filter(pk=1).exists()
