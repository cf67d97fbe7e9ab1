"""Rule actions: enable, disable, evaluate now, preview, approve a recommendation."""

import pytest

from automigrate.models import Event, Migration
from automigrate.services.rules import create_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def recommend_rule(hot_cluster):
    return create_rule({"name": "test-cpu", "threshold": 60, "period": "2m", "mode": "recommend"})


def test_disable_and_enable_record_their_events(operator_api):
    rule = create_rule({"name": "test-cpu", "threshold": 60})
    response = operator_api.post(f"/api/rules/{rule.pk}/disable/")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert operator_api.post(f"/api/rules/{rule.pk}/enable/").json()["enabled"] is True
    actions = list(Event.objects.filter(user="operator").order_by("id").values_list("action", flat=True))
    assert actions == ["disable", "enable"]


def test_preview_shows_the_plan_and_records_nothing(viewer_api, recommend_rule):
    response = viewer_api.get(f"/api/rules/{recommend_rule.pk}/preview/")
    assert response.status_code == 200
    plan = response.json()
    assert plan["triggered"] == [{"host": "a15", "value": 90.0, "threshold": 60.0}]
    assert {(m["guest"], m["source"], m["target"]) for m in plan["moves"]} == {("vm1", "a15", "b20"),
                                                                                ("vm2", "a15", "b20")}
    assert Event.objects.filter(rule_ref=recommend_rule.pk).count() == 1  # only its create event


def test_evaluating_a_recommend_rule_records_a_recommendation_and_moves_nothing(operator_api, recommend_rule):
    response = operator_api.post(f"/api/rules/{recommend_rule.pk}/evaluate/")
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "recommend"
    assert [e["action"] for e in body["events"]] == ["recommend"]
    assert not Migration.objects.exists()


def test_approving_a_recommendation_starts_its_migrations_once(operator_api, recommend_rule):
    event_id = operator_api.post(f"/api/rules/{recommend_rule.pk}/evaluate/").json()["events"][0]["id"]
    response = operator_api.post(f"/api/rules/{recommend_rule.pk}/approve/", {"event": event_id}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "migrating"
    assert Migration.objects.filter(source__name="a15", target__name="b20").count() == 2
    assert Event.objects.get(action="approve").user == "operator"

    again = operator_api.post(f"/api/rules/{recommend_rule.pk}/approve/", {"event": event_id}, format="json")
    assert again.status_code == 400
    assert "already approved" in again.json()["event"]


def test_only_a_recommend_event_of_this_rule_can_be_approved(operator_api, recommend_rule):
    other = create_rule({"name": "other", "threshold": 70})
    create_event = Event.objects.get(rule_ref=recommend_rule.pk, action="create")
    wrong_action = operator_api.post(
        f"/api/rules/{recommend_rule.pk}/approve/", {"event": create_event.pk}, format="json"
    )
    assert wrong_action.status_code == 400 and "only recommend events" in wrong_action.json()["event"]
    wrong_rule = operator_api.post(f"/api/rules/{other.pk}/approve/", {"event": create_event.pk}, format="json")
    assert wrong_rule.status_code == 400 and "has no event" in wrong_rule.json()["event"]
    assert operator_api.post(f"/api/rules/{other.pk}/approve/", {}, format="json").status_code == 400


def test_a_viewer_may_preview_but_not_evaluate_or_approve(viewer_api, recommend_rule):
    assert viewer_api.post(f"/api/rules/{recommend_rule.pk}/evaluate/").status_code == 403
    assert viewer_api.post(f"/api/rules/{recommend_rule.pk}/approve/", {"event": 1}, format="json").status_code == 403


def test_preview_failures_carry_their_records(viewer_api, hot_cluster):
    # At a 25 % threshold b20 (10 %) cannot take a 19.8 % guest: each failure says so in numbers.
    rule = create_rule({"name": "tight", "threshold": 25, "period": "2m", "mode": "recommend"})
    plan = viewer_api.get(f"/api/rules/{rule.pk}/preview/").json()
    failure = next(f for f in plan["failures"] if f["guest"] == "vm1")
    (rejection,) = failure["rejections"]
    assert {k: rejection[k] for k in ("target", "limit", "reason", "current", "limit_value", "unit")} == {
        "target": "b20", "limit": "threshold", "reason": "over_threshold", "current": 10.0, "limit_value": 25.0,
        "unit": "%",
    }
    assert rejection["score"] == pytest.approx(19.8)
    assert (failure["reason"], failure["not_listed"], failure["not_tried"]) == ("no_target", 0, 0)
    assert failure["notes"].startswith("not found target for guest vm1: [host:b20:current(10.000000)")
