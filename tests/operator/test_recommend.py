"""Recommend mode that can always be approved: partial plans, waiting for the rule's own batch, buttons."""

from datetime import timedelta

import pytest
from django.urls import reverse

from automigrate.models import Event, Guest, Host, MigrationRule
from automigrate.services import evaluate
from dashboard import queries
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples

pytestmark = pytest.mark.django_db


def _partial(two_hot_hosts):
    """hot-cpu can be relieved; "stuck" has one 40-vCPU guest that fits nowhere: a partial plan."""
    now = two_hot_hosts.now
    stuck = Host.objects.create(name="stuck", cpu_count=40, mem_total=256 * GIB)
    whale = Guest.objects.create(name="whale", host=stuck, vcpu_count=40, vmem_size=1024)
    write_samples(stuck, now, cpu=100.0, mem=200 * GIB)
    write_guest_samples(whale, now, 100.0)
    return two_hot_hosts.cpu_rule(mode="recommend")


def test_a_partial_recommendation_stays_pending_beside_its_own_failures(two_hot_hosts):
    rule = _partial(two_hot_hosts)
    evaluation = evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    assert evaluation.result == evaluate.RECOMMEND
    recommendation = Event.objects.get(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
    assert Event.objects.filter(rule_ref=rule.pk, action=Event.Action.FIND_RESULT_FAIL).exists()
    assert recommendation.notes["unrelieved"] == ["stuck"]
    assert "partial: leaves stuck past the threshold" in recommendation.summary
    assert queries.pending_recommendations(rule) == [recommendation]


def test_a_later_evaluation_that_moves_nothing_supersedes_it(two_hot_hosts):
    rule = _partial(two_hot_hosts)
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    from automigrate.services.events import record_event

    record_event(Event.Action.FIND_RESULT_FAIL, "a later check: nothing can move", rule=rule)
    assert queries.pending_recommendations(rule) == []


def test_the_partial_plan_is_approved_from_the_overview_and_comes_back_there(two_hot_hosts, client, operator):
    rule = _partial(two_hot_hosts)
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    recommendation = queries.pending_recommendations(rule)[0]
    client.force_login(operator)
    overview = client.get(reverse("dashboard:overview")).content.decode()
    approve = reverse("dashboard:rule-approve", args=[rule.pk, recommendation.pk])
    assert approve in overview and "partial" in overview
    rules_page = client.get(reverse("dashboard:rules")).content.decode()
    assert approve in rules_page

    response = client.post(approve, {"next": reverse("dashboard:overview")})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:overview")
    assert Event.objects.filter(action=Event.Action.APPROVE, notes__recommendation=recommendation.pk).exists()
    # An outside "next" is ignored: back to the rule.
    again = client.post(approve, {"next": "https://example.invalid/"})
    assert again["Location"] == reverse("dashboard:rule", args=[rule.pk])


def test_viewers_see_pending_recommendations_without_a_button(two_hot_hosts, viewer_client):
    rule = _partial(two_hot_hosts)
    evaluate.evaluate_rule(rule, now=two_hot_hosts.now)
    recommendation = queries.pending_recommendations(rule)[0]
    html = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="pending-recommendation"' in html
    assert reverse("dashboard:rule-approve", args=[rule.pk, recommendation.pk]) not in html


def test_no_recommendation_while_the_rules_own_batch_runs(two_hot_hosts):
    now = two_hot_hosts.now
    rule = two_hot_hosts.cpu_rule(mode="recommend")
    evaluate.evaluate_rule(rule, now=now)
    recommendation = Event.objects.get(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
    approved = evaluate.approve_recommendation(recommendation, None, now=now + timedelta(seconds=1))
    assert approved.batch is not None
    rule.refresh_from_db()

    for second in (24, 34, 44):
        result = evaluate.evaluate_rule(rule, now=now + timedelta(seconds=second))
        assert result.result == evaluate.BUSY
    assert Event.objects.filter(rule_ref=rule.pk, action=Event.Action.RECOMMEND).count() == 1
    waiting = list(Event.objects.filter(rule_ref=rule.pk, action=Event.Action.SKIP, notes__reason="own_batch"))
    assert len(waiting) == 1  # said once per batch, not at every check
    assert waiting[0].summary.startswith(f"waiting for batch #{approved.batch.pk}")
    assert MigrationRule.objects.get(pk=rule.pk).last_result == evaluate.BUSY
