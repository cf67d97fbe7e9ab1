"""Admin pages load, rule edits there are validated and write events."""

import pytest
from django.urls import reverse

from automigrate.models import Event, MigrationRule

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["host", "guest", "migrationrule", "event", "migration", "migrationbatch", "migrationlock"]


@pytest.mark.parametrize("model", ADMIN_PAGES)
def test_each_admin_list_loads(staff_client, model):
    response = staff_client.get(reverse(f"admin:automigrate_{model}_changelist"))
    assert response.status_code == 200


def test_the_rule_add_page_loads(staff_client):
    assert staff_client.get(reverse("admin:automigrate_migrationrule_add")).status_code == 200


def rule_form(**overrides):
    data = {"name": "test-cpu", "metric": "cpu.usage_active", "threshold": "60", "period": "2m",
            "mode": "automatic", "enabled": "on"}
    data.update(overrides)
    return data


def test_adding_a_rule_in_admin_records_a_create_event(staff_client):
    response = staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form())
    assert response.status_code == 302, response.content
    rule = MigrationRule.objects.get()
    assert rule.period_seconds == 120
    event = Event.objects.get(action="create")
    assert event.user == "boss" and event.rule_ref == rule.pk


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"threshold": "150"}, "0 &lt; t &lt;= 100"),
        ({"period": "5x"}, "is not a period"),
        ({"metric": "mem.available", "threshold": "lots"}, "is not a size"),
    ],
)
def test_bad_rule_input_in_admin_is_shown_on_the_field_and_nothing_is_saved(staff_client, overrides, message):
    response = staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not MigrationRule.objects.exists()
    assert not Event.objects.exists()


def test_a_host_in_both_lists_is_refused_in_admin(staff_client, make_host):
    host = make_host("a15")
    response = staff_client.post(
        reverse("admin:automigrate_migrationrule_add"),
        rule_form(source_hosts=[host.pk], target_hosts=[host.pk]),
    )
    assert "cannot be both a source and a target" in response.content.decode()
    assert not MigrationRule.objects.exists()


def test_a_duplicate_name_is_refused_in_admin(staff_client):
    staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form())
    response = staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form(threshold="80"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert MigrationRule.objects.get().threshold == 60


def test_changing_and_deleting_a_rule_in_admin_records_events(staff_client):
    staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form())
    rule = MigrationRule.objects.get()
    change_url = reverse("admin:automigrate_migrationrule_change", args=[rule.pk])
    response = staff_client.post(change_url, rule_form(threshold="75"))
    assert response.status_code == 302
    assert Event.objects.get(action="update").notes["changes"]["threshold"]["after"] == 75
    delete_url = reverse("admin:automigrate_migrationrule_delete", args=[rule.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert Event.objects.get(action="delete").rule_name == "test-cpu"


def test_events_cannot_be_edited_in_admin(staff_client):
    staff_client.post(reverse("admin:automigrate_migrationrule_add"), rule_form())
    event = Event.objects.get()
    response = staff_client.post(reverse("admin:automigrate_event_change", args=[event.pk]), {"summary": "x"})
    assert response.status_code == 403


def test_admin_refuses_to_delete_a_host_a_rule_lists_and_names_the_rule(staff_client, make_host):
    from automigrate.models import Host
    from automigrate.services.rules import create_rule

    host = make_host("h1")
    rule = create_rule({"name": "test-cpu", "threshold": 60, "target_hosts": [host]})
    delete_url = reverse("admin:automigrate_host_delete", args=[host.pk])
    page = staff_client.get(delete_url).content.decode()
    assert "Cannot delete host" in page and "test-cpu" in page
    response = staff_client.post(delete_url, {"post": "yes"})
    assert response.status_code == 200  # the refusal page again, not a redirect after deleting
    assert Host.objects.filter(pk=host.pk).exists()
    assert list(rule.target_hosts.all()) == [host]


def test_admin_bulk_delete_refuses_guests_a_rule_lists(staff_client, make_host, make_guest):
    from automigrate.models import Guest
    from automigrate.services.rules import create_rule

    host = make_host("h1")
    listed, free = make_guest("vm1", host), make_guest("vm2", host)
    create_rule({"name": "test-cpu", "threshold": 60, "source_guests": [listed]})
    response = staff_client.post(
        reverse("admin:automigrate_guest_changelist"),
        {"action": "delete_selected", "_selected_action": [listed.pk, free.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert "test-cpu" in response.content.decode()
    assert Guest.objects.count() == 2
