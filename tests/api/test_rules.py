"""/api/rules/: CRUD through the rule service, with its validation and its events."""

import pytest

from automigrate.models import Event, MigrationRule
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db


def post_rule(client, **fields):
    return client.post("/api/rules/", {"name": "test-cpu", "threshold": 60, **fields}, format="json")


def test_an_operator_creates_a_rule_in_the_seed_units(operator_api, make_host):
    make_host("test-66-onecloud02")
    response = post_rule(operator_api, name="mem-low", metric="mem.available", threshold="8G", period="2m",
                         source_hosts=["test-66-onecloud02"], mode="recommend")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["threshold"] == 8 * 1024**3
    assert body["period"] == "2m" and body["period_seconds"] == 120
    assert body["metric_type"] == "mem.available.lt"
    assert body["source_hosts"] == ["test-66-onecloud02"]
    assert body["created_by"] == "operator"
    rule = MigrationRule.objects.get(name="mem-low")
    assert rule.mode == "recommend"


def test_creating_through_the_api_writes_a_create_event_naming_the_user(operator_api):
    rule_id = post_rule(operator_api).json()["id"]
    event = Event.objects.get()
    assert (event.action, event.user, event.rule_ref) == ("create", "operator", rule_id)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"threshold": 150}, "threshold", "0 < t <= 100"),
        ({"threshold": "lots"}, "threshold", "not a number"),
        ({"metric": "mem.available", "threshold": "8X"}, "threshold", "8G"),
        ({"period": "5x"}, "period", "30s, 2m, 1h"),
        ({"period": "5s"}, "period", "minimum"),
        ({"period": "99999999999999d"}, "period", "at most 1d"),
        ({"period": 1e20}, "period", "at most 1d"),
        ({"metric": "mem.available", "threshold": 1e300}, "threshold", "at most 1P"),
        ({"metric": "mem.available", "threshold": 0.5}, "threshold", "whole number of bytes"),
        ({"metric": "disk.used"}, "metric", "is not a valid choice"),
        ({"mode": "yolo"}, "mode", "is not a valid choice"),
        ({"threshold": True}, "threshold", "use a number"),
        ({"source_hosts": ["nowhere"]}, "source_hosts", "does not exist"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_what_is_allowed(operator_api, fields, field, says):
    response = post_rule(operator_api, **fields)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert says in " ".join(response.json()[field])
    assert not MigrationRule.objects.exists()
    assert not Event.objects.exists()


def test_several_bad_fields_are_all_named_at_once(operator_api):
    response = post_rule(operator_api, threshold=0, period="soon")
    assert response.status_code == 400
    assert set(response.json()) == {"threshold", "period"}


def test_a_duplicate_name_is_refused_by_the_service_message(operator_api):
    create_rule({"name": "test-cpu", "threshold": 60})
    response = post_rule(operator_api)
    assert response.status_code == 400
    assert response.json() == {"name": ["a rule named 'test-cpu' already exists"]}


def test_a_host_in_both_source_and_target_is_refused(operator_api, make_host):
    make_host("a15")
    response = post_rule(operator_api, source_hosts=["a15"], target_hosts=["a15"])
    assert response.status_code == 400
    assert "both a source and a target" in response.json()["target_hosts"][0]


def test_patch_changes_only_what_is_given_and_records_an_update(operator_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60, "period": "2m"})
    response = operator_api.patch(f"/api/rules/{rule.pk}/", {"threshold": 70}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["threshold"] == 70 and response.json()["period"] == "2m"
    event = Event.objects.get(action="update")
    assert event.user == "operator"
    assert event.notes["changes"] == {"threshold": {"before": 60.0, "after": 70.0}}


def test_switching_metric_revalidates_the_threshold(operator_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    # 60 bytes would be a valid memory threshold; 8G as a CPU percent is not.
    response = operator_api.patch(f"/api/rules/{rule.pk}/", {"threshold": "8G"}, format="json")
    assert response.status_code == 400 and "threshold" in response.json()
    ok = operator_api.patch(f"/api/rules/{rule.pk}/", {"metric": "mem.available", "threshold": "8G"}, format="json")
    assert ok.status_code == 200 and ok.json()["threshold"] == 8 * 1024**3


def test_changing_the_metric_without_a_new_threshold_is_refused(operator_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    response = operator_api.patch(f"/api/rules/{rule.pk}/", {"metric": "mem.available"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"threshold": ["give a new threshold when changing the metric"]}
    rule.refresh_from_db()
    assert (rule.metric, rule.threshold) == ("cpu.usage_active", 60)
    assert not Event.objects.filter(action="update").exists()


def test_put_replaces_the_relations(operator_api, make_host):
    make_host("a15")
    make_host("b20")
    rule_id = post_rule(operator_api, source_hosts=["a15"]).json()["id"]
    response = operator_api.put(
        f"/api/rules/{rule_id}/", {"name": "test-cpu", "threshold": 60, "target_hosts": ["b20"], "source_hosts": []},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["source_hosts"] == [] and response.json()["target_hosts"] == ["b20"]


def test_delete_keeps_the_history_with_a_delete_event(operator_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    assert operator_api.delete(f"/api/rules/{rule.pk}/").status_code == 204
    assert not MigrationRule.objects.exists()
    actions = list(Event.objects.filter(rule_ref=rule.pk).values_list("action", "user"))
    assert actions == [("delete", "operator"), ("create", "system")]


def test_a_viewer_cannot_change_a_rule(viewer_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    assert viewer_api.patch(f"/api/rules/{rule.pk}/", {"threshold": 70}, format="json").status_code == 403
    assert viewer_api.post(f"/api/rules/{rule.pk}/disable/").status_code == 403
    assert MigrationRule.objects.get().threshold == 60


def test_rules_filter_by_metric_type_and_search_by_name(viewer_api):
    create_rule({"name": "cpu-a", "threshold": 60})
    create_rule({"name": "cpu-b", "threshold": 80})
    create_rule({"name": "mem-a", "metric": "mem.available", "threshold": "8G"})

    def names(query):
        return [r["name"] for r in viewer_api.get(f"/api/rules/{query}").json()["results"]]

    assert names("?metric_type=mem.available.lt") == ["mem-a"]
    assert names("?metric_type=cpu.usage_active.gt") == ["cpu-a", "cpu-b"]
    assert names("?search=-a") == ["cpu-a", "mem-a"]
    assert names("?ordering=-threshold&metric=cpu.usage_active") == ["cpu-b", "cpu-a"]
    assert viewer_api.get("/api/rules/?metric_type=disk.used.gt").status_code == 400
