"""/api/events/ and /api/migrations/: read-only logs, filtered by rule, action, host, guest and time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.models import Event, Migration
from automigrate.services.events import record_event
from automigrate.services.rules import create_rule, delete_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(make_host, make_guest):
    a15, b20, c30 = make_host("a15"), make_host("b20"), make_host("c30")
    vm1, vm2 = make_guest("vm1", a15), make_guest("vm2", b20)
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    other = create_rule({"name": "other", "threshold": 80})
    record_event("migrating", "vm1 a15 → c30", rule=rule, guest=vm1, source_host=a15, target_host=c30)
    record_event("migrate_success", "vm1 done", rule=rule, guest=vm1, source_host=a15, target_host=c30)
    record_event("find_result_fail", "vm2 fits nowhere", rule=other, guest=vm2, source_host=b20)
    Event.objects.create(action="recommend", summary="long ago", rule=other, rule_ref=other.pk,
                         rule_name=other.name, time=timezone.now() - timedelta(days=3))
    return {"rule": rule, "other": other, "hosts": (a15, b20, c30), "guests": (vm1, vm2)}


def actions(client, query: str) -> list[str]:
    response = client.get(f"/api/events/{query}")
    assert response.status_code == 200, response.json()
    return [e["action"] for e in response.json()["results"]]


def test_events_are_newest_first(viewer_api, history):
    assert actions(viewer_api, "") == [
        "find_result_fail", "migrate_success", "migrating", "create", "create", "recommend"
    ]


def test_events_filter_by_rule_and_action(viewer_api, history):
    rule = history["rule"]
    assert actions(viewer_api, f"?rule={rule.pk}") == ["migrate_success", "migrating", "create"]
    assert actions(viewer_api, f"?rule={rule.pk}&action=migrating&action=create") == ["migrating", "create"]
    assert actions(viewer_api, "?rule_name=other&action=recommend") == ["recommend"]


def test_events_filter_by_host_as_source_or_target_and_by_guest(viewer_api, history):
    assert actions(viewer_api, "?host=c30") == ["migrate_success", "migrating"]
    assert actions(viewer_api, "?host=b20") == ["find_result_fail"]
    assert actions(viewer_api, "?guest=vm2") == ["find_result_fail"]


def test_events_filter_by_time_range(viewer_api, history):
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    older = actions(viewer_api, f"?until={yesterday.replace('+', '%2B')}")
    newer = actions(viewer_api, f"?since={yesterday.replace('+', '%2B')}")
    assert older == ["recommend"]
    assert newer == ["find_result_fail", "migrate_success", "migrating", "create", "create"]
    assert viewer_api.get("/api/events/?since=yesterday").status_code == 400


def test_events_of_a_deleted_rule_stay_findable_by_its_id(viewer_api, history):
    rule_id = history["rule"].pk
    delete_rule(history["rule"])
    assert actions(viewer_api, f"?rule={rule_id}") == ["delete", "migrate_success", "migrating", "create"]


def test_events_page_with_limit_and_offset(viewer_api, history):
    page = viewer_api.get("/api/events/?limit=2&offset=2").json()
    assert page["count"] == 6
    assert len(page["results"]) == 2
    assert page["previous"] is not None and page["next"] is not None


def test_events_are_read_only_even_for_operators(operator_api, history):
    event = Event.objects.first()
    assert operator_api.post("/api/events/", {"action": "create"}, format="json").status_code == 405
    assert operator_api.delete(f"/api/events/{event.pk}/").status_code == 405


def test_migrations_filter_by_state_host_and_guest(viewer_api, history):
    a15, b20, c30 = history["hosts"]
    vm1, vm2 = history["guests"]
    Migration.objects.create(guest=vm1, source=a15, target=c30, rule=history["rule"], state="succeeded")
    Migration.objects.create(guest=vm2, source=b20, target=a15, state="failed", error="refused")

    def guests(query):
        response = viewer_api.get(f"/api/migrations/{query}")
        assert response.status_code == 200
        return [m["guest"] for m in response.json()["results"]]

    assert guests("") == ["vm2", "vm1"]
    assert guests("?state=failed") == ["vm2"]
    assert guests("?host=a15") == ["vm2", "vm1"]
    assert guests("?host=c30") == ["vm1"]
    assert guests(f"?rule={history['rule'].pk}") == ["vm1"]
    assert guests("?search=vm1") == ["vm1"]
    assert viewer_api.get("/api/migrations/?state=teleported").status_code == 400
    assert viewer_api.post("/api/migrations/", {}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("limit=abc", "limit", "'abc' is not a whole number from 1 to 1000"),
        ("limit=0", "limit", "0 is out of range: use a whole number from 1 to 1000"),
        ("limit=-1", "limit", "'-1' is not a whole number from 1 to 1000"),
        ("limit=1001", "limit", "1001 is out of range"),
        ("limit=" + "9" * 30, "limit", "is out of range"),
        ("limit=1.5", "limit", "is not a whole number"),
        ("offset=abc", "offset", "'abc' is not a whole number, at least 0"),
        ("offset=-3", "offset", "is not a whole number, at least 0"),
    ],
)
def test_a_bad_limit_or_offset_is_a_400_naming_it(viewer_api, history, query, field, says):
    response = viewer_api.get(f"/api/events/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert says in response.json()[field][0]


def test_good_limits_and_offsets_page_as_before(viewer_api, history):
    assert len(viewer_api.get("/api/events/?limit=2").json()["results"]) == 2
    assert len(viewer_api.get("/api/events/?limit=1000&offset=1").json()["results"]) == 5
    # Past the end: an empty page, not an error (nor a database overflow).
    huge = viewer_api.get("/api/events/?offset=" + "9" * 19)
    assert huge.status_code == 200 and huge.json()["results"] == []
