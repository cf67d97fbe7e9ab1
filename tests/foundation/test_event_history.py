"""Issue 10: events keep what they describe, as it was, and nothing rewrites them."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from automigrate.models import Event
from automigrate.services.events import record_event
from automigrate.services.rules import create_rule, delete_rule, delete_unlisted

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(viewer) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=viewer)[0].key}")
    return client


@pytest.fixture
def moved(make_host, make_guest):
    """vm1 moved from a15 to c30 by test-cpu; then c30's guest, c30 and the rule are free to go."""
    a15, c30 = make_host("a15"), make_host("c30")
    vm1 = make_guest("vm1", a15)
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    event = record_event("migrate_success", "vm1 now runs on c30", rule=rule, guest=vm1, source_host=a15,
                         target_host=c30)
    return {"event": event, "guest": vm1, "source": a15, "target": c30, "rule": rule}


def test_an_event_stores_the_names_and_ids_of_what_it_describes(moved):
    event = Event.objects.get(pk=moved["event"].pk)
    assert (event.guest_name, event.source_host_name, event.target_host_name, event.rule_name) == (
        "vm1", "a15", "c30", "test-cpu"
    )
    assert (event.guest_id, event.source_host_id, event.target_host_id, event.rule_ref) == (
        moved["guest"].pk, moved["source"].pk, moved["target"].pk, moved["rule"].pk
    )


def test_deleting_the_guest_hosts_and_rule_rewrites_nothing(moved, api, viewer_client):
    ids = (moved["guest"].pk, moved["source"].pk, moved["target"].pk, moved["rule"].pk)
    delete_unlisted(moved["guest"])
    delete_unlisted(moved["target"])
    delete_rule(moved["rule"])
    event = Event.objects.get(pk=moved["event"].pk)
    # The row is as it was written: no SET_NULL, ids and names kept.
    assert (event.guest_id, event.source_host_id, event.target_host_id, event.rule_id) == ids
    assert (event.guest_name, event.target_host_name) == ("vm1", "c30")

    shown = api.get(f"/api/events/{event.pk}/").json()
    assert (shown["guest"], shown["guest_id"], shown["source_host"], shown["target_host"], shown["rule_name"]) == (
        "vm1", ids[0], "a15", "c30", "test-cpu"
    )
    assert [e["id"] for e in api.get("/api/events/?guest=vm1").json()["results"]] == [event.pk]
    assert [e["id"] for e in api.get("/api/events/?host=c30").json()["results"]] == [event.pk]

    page = viewer_client.get(reverse("dashboard:events") + "?guest=vm1")
    assert page.status_code == 200
    html = page.content.decode()
    assert "vm1" in html and "(deleted)" in html and "c30" in html
    # The host that still exists is a link; the deleted one is only a name.
    assert reverse("dashboard:host", args=[ids[1]]) in html
    assert reverse("dashboard:host", args=[ids[2]]) not in html
    assert viewer_client.get(reverse("dashboard:overview")).status_code == 200
    assert viewer_client.get(reverse("dashboard:host", args=[ids[1]])).status_code == 200

    admin_list = io.StringIO()
    call_command("migrationalert", "events", "test-cpu", stdout=admin_list)
    assert "vm1 now runs on c30" in admin_list.getvalue()


def test_a_renamed_host_keeps_its_old_name_in_old_events(moved, api):
    moved["target"].name = "c30-renamed"
    moved["target"].save()
    assert api.get(f"/api/events/{moved['event'].pk}/").json()["target_host"] == "c30"


def test_the_admin_event_list_shows_stored_names_of_deleted_objects(moved, staff_client):
    delete_unlisted(moved["guest"])
    page = staff_client.get(reverse("admin:automigrate_event_changelist"))
    assert page.status_code == 200 and "vm1" in page.content.decode()
    detail = staff_client.get(reverse("admin:automigrate_event_change", args=[moved["event"].pk]))
    assert detail.status_code == 200


def test_there_is_no_way_around_append_only(moved):
    event = Event.objects.get(pk=moved["event"].pk)
    event.summary = "rewritten"
    for attempt in (lambda: event.save(), lambda: event.save(_allow_update=True),
                    lambda: Event.objects.filter(pk=event.pk).update(summary="x"), lambda: event.delete()):
        with pytest.raises(PermissionError):
            attempt()
    assert Event.objects.get(pk=event.pk).summary == "vm1 now runs on c30"
