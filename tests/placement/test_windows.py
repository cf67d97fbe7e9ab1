"""Migration windows: the grammar, and a rule outside its window records once, moves nothing, acts in the next."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from automigrate.engine import windows
from automigrate.models import BlackoutWindow, Event, Migration, MigrationRule
from automigrate.services import evaluate
from automigrate.services.rules import create_rule, update_rule
from tests.evaluator.helpers import TwoHotHosts, write_guest_samples, write_samples

TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday


def test_grammar_accepts_ranges_lists_and_overnight_windows():
    tz = ZoneInfo("UTC")
    spec = windows.parse("Mon-Fri 22:00-06:00; Sat,Sun 00:00-24:00")
    assert spec.contains(datetime(2026, 12, 1, 23, 0, tzinfo=UTC), tz)  # Tue 23:00
    assert spec.contains(datetime(2026, 12, 2, 5, 59, tzinfo=UTC), tz)  # Wed 05:59, Tue's window
    assert not spec.contains(datetime(2026, 12, 2, 6, 0, tzinfo=UTC), tz)
    assert spec.contains(datetime(2026, 12, 5, 13, 0, tzinfo=UTC), tz)  # Saturday
    assert windows.next_allowed(TUESDAY_NOON, tz, spec) == datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    # A blackout inside the allowed window pushes "allowed again" to its end.
    blackout = windows.parse("daily 21:00-23:00")
    assert windows.next_allowed(TUESDAY_NOON, tz, spec, (blackout,)) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


def test_grammar_is_evaluated_in_the_cluster_time_zone():
    paris = ZoneInfo("Europe/Paris")
    spec = windows.parse("daily 22:00-23:00")
    assert spec.contains(datetime(2026, 12, 1, 21, 30, tzinfo=UTC), paris)  # 22:30 in Paris
    assert not spec.contains(datetime(2026, 12, 1, 22, 30, tzinfo=UTC), paris)


@pytest.mark.parametrize("bad, says", [
    ("Mon-Fri", "write days then hours"),
    ("Monday 10:00-11:00", "unknown day 'Monday'"),
    ("Mon 10:00-25:00", "'25:00' is not a time"),
    ("Mon 10:00-10:00", "start and end are equal"),
    ("Mon 24:00-02:00", "cannot start at 24:00"),
    ("Mon 10-11", "'10' is not a time"),
    ("Mon 10:00-11:00;", "window 2"),
])
def test_grammar_errors_name_the_window_and_what_is_allowed(bad, says):
    with pytest.raises(windows.WindowError, match=says):
        windows.parse(bad, "allowed_windows")


def refresh(cluster: TwoHotHosts, now: datetime) -> None:
    """The same flat load, measured at ``now`` (the controllable clock of these tests)."""
    write_samples(cluster.hot_cpu, now, cpu=65.0, mem=200 * 1024**3)
    write_samples(cluster.hot_mem, now, cpu=10.0, mem=200 * 1024**3)
    for spare in (cluster.spare1, cluster.spare2):
        write_samples(spare, now, cpu=5.0, mem=400 * 1024**3)
    write_guest_samples(cluster.busy, now, 100.0)
    write_guest_samples(cluster.big, now, 10.0)


@pytest.fixture
def cluster(db):
    return TwoHotHosts(TUESDAY_NOON)


def window_events(rule):
    return list(Event.objects.filter(rule_ref=rule.pk, notes__reason="outside_window"))


@pytest.mark.django_db
def test_outside_its_window_a_rule_records_once_moves_nothing_and_acts_in_the_next_window(cluster):
    rule = cluster.cpu_rule(allowed_windows="Mon-Fri 22:00-06:00")
    first = evaluate.evaluate_rule(rule, now=TUESDAY_NOON)
    assert first.result == evaluate.OUTSIDE_WINDOW
    [event] = window_events(rule)
    assert event.action == Event.Action.SKIP
    assert "would migrate 1 guest (busy-vm hot-cpu →" in event.summary
    assert "outside the allowed window (Mon-Fri 22:00-06:00) until 22:00" in event.summary
    for minutes in (5, 60, 300):
        later = TUESDAY_NOON + timedelta(minutes=minutes)
        refresh(cluster, later)
        assert evaluate.evaluate_rule(rule, now=later).result == evaluate.OUTSIDE_WINDOW
    assert len(window_events(rule)) == 1
    assert Migration.objects.count() == 0
    opening = datetime(2026, 12, 1, 22, 1, tzinfo=UTC)
    refresh(cluster, opening)
    acted = evaluate.evaluate_rule(rule, now=opening)
    assert acted.result == evaluate.MIGRATING
    assert Migration.objects.filter(guest=cluster.busy).count() == 1


@pytest.mark.django_db
def test_the_next_closed_window_is_recorded_again(cluster):
    rule = cluster.cpu_rule(allowed_windows="daily 22:00-23:00")
    evaluate.evaluate_rule(rule, now=TUESDAY_NOON)
    tomorrow = TUESDAY_NOON + timedelta(days=1)
    refresh(cluster, tomorrow)
    evaluate.evaluate_rule(rule, now=tomorrow)
    assert len(window_events(rule)) == 2


@pytest.mark.django_db
def test_a_global_blackout_holds_every_rule(cluster):
    BlackoutWindow.objects.create(name="business", windows="Mon-Fri 08:00-18:00", reason="business hours")
    rule = cluster.cpu_rule()
    result = evaluate.evaluate_rule(rule, now=TUESDAY_NOON)
    assert result.result == evaluate.OUTSIDE_WINDOW
    assert "in the blackout window business (Mon-Fri 08:00-18:00): business hours until 18:00" in result.summary


@pytest.mark.django_db
def test_recommendations_are_approved_outside_the_window_only_with_an_explicit_override(cluster, operator):
    rule = cluster.cpu_rule(mode=MigrationRule.Mode.RECOMMEND, allowed_windows="Mon-Fri 22:00-06:00")
    evaluate.evaluate_rule(rule, now=TUESDAY_NOON)
    recommendation = Event.objects.get(action=Event.Action.RECOMMEND)
    assert "approving now needs an explicit window override" in recommendation.summary
    with pytest.raises(evaluate.ApprovalError, match="outside the allowed window"):
        evaluate.approve_recommendation(recommendation, operator, now=TUESDAY_NOON)
    assert Migration.objects.count() == 0
    evaluate.approve_recommendation(recommendation, operator, now=TUESDAY_NOON, override_window=True)
    approval = Event.objects.get(action=Event.Action.APPROVE)
    assert approval.user == "operator"
    assert "outside the allowed window" in approval.notes["window_override"]
    assert "window overridden" in approval.summary
    assert Migration.objects.count() == 1


@pytest.mark.django_db
def test_bad_windows_are_refused_with_the_field_named(cluster):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        create_rule({"name": "bad", "metric": "cpu.usage_active", "threshold": 60, "allowed_windows": "Mon 9-5"})
    assert "allowed_windows" in caught.value.message_dict
    rule = cluster.cpu_rule()
    update_rule(rule, {"allowed_windows": "Sat,Sun 00:00-24:00"})
    assert Event.objects.filter(action=Event.Action.UPDATE, summary__contains="allowed_windows").exists()
