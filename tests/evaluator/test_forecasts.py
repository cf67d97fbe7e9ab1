"""Forecasts in the live evaluation: from the database's own history to the snapshot, the plan and the events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration
from automigrate.services import evaluate
from automigrate.services.rules import create_rule
from automigrate.services.snapshot import build_view
from automigrate.sources import SourceError
from tests.evaluator.helpers import GIB, tune

HOUR = 3600


def history(host: Host, now, value_at, seconds: int = HOUR, step: int = 10) -> None:
    """CPU and memory samples every ``step`` s over the last ``seconds``; CPU ``value_at(seconds ago)``."""
    rows = []
    for ago in range(0, seconds, step):
        at = now - timedelta(seconds=ago)
        rows.append(HostSample(host=host, metric=CPU, time=at, value=value_at(ago)))
        rows.append(HostSample(host=host, metric=MEM, time=at, value=200 * GIB))
    HostSample.objects.bulk_create(rows)


def spike_that_ended(ago: int) -> float:
    # 30 % for an hour, except 92 % from 10 to 5 minutes ago: the 10-minute window means 61 %.
    return 92.0 if 300 <= ago < 600 else 30.0


@pytest.fixture
def spiky_cluster(db, settings):
    tune(settings, FORECAST=True, FORECAST_HISTORY_WINDOWS=6, METRIC_SOURCE="database")
    now = timezone.now()
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * GIB)
    spare = Host.objects.create(name="spare", cpu_count=40, mem_total=256 * GIB)
    busy = Guest.objects.create(name="busy-vm", host=hot, vcpu_count=16, vmem_size=2048)
    history(hot, now, spike_that_ended)
    history(spare, now, lambda ago: 10.0)
    GuestSample.objects.bulk_create(
        GuestSample(guest=busy, time=now - timedelta(seconds=ago), cpu=90.0) for ago in range(0, 600, 10)
    )
    rule = create_rule({"name": "cpu", "metric": CPU, "threshold": 60, "period": "10m", "mode": "recommend"})
    return now, hot, spare, rule


def test_the_database_history_gives_each_host_a_forecast_in_the_snapshot(spiky_cluster):
    now, _hot, _spare, rule = spiky_cluster
    view = build_view(rule, now)
    states = {h.name: h for h in view.snapshot.hosts}
    assert states["hot"].cpu == pytest.approx(61.0)
    cast = states["hot"].forecast
    assert cast is not None and cast.kind == "spike_ended"
    assert cast.value < 50
    assert f"ended at {(now - timedelta(seconds=300)):%H:%M}" in cast.reason
    assert states["spare"].forecast.value == pytest.approx(10.0, abs=1.0)
    assert view.forecast_error is None


def test_a_finished_spike_is_a_forecast_under_skip_event_and_nothing_moves(spiky_cluster):
    now, _hot, _spare, rule = spiky_cluster
    result = evaluate.evaluate_rule(rule, now=now)
    assert result.result == evaluate.NOT_TRIGGERED
    assert result.plan.moves == []
    event = Event.objects.get(rule_ref=rule.pk, action=Event.Action.SKIP)
    assert event.notes["reason"] == "forecast_under"
    assert event.notes["held"][0]["host"] == "hot"
    assert "spike that ended at" in event.summary and "nothing moved" in event.summary
    assert "61.0 %" in event.summary
    assert event.notes["forecasts"]["hot"]["kind"] == "spike_ended"
    # Checked again a second later: the same skip is not written twice.
    evaluate.evaluate_rule(rule, now=now + timedelta(seconds=1))
    assert Event.objects.filter(rule_ref=rule.pk, action=Event.Action.SKIP).count() == 1


def test_with_forecasts_off_the_same_history_is_acted_on(spiky_cluster, settings):
    now, _hot, _spare, rule = spiky_cluster
    tune(settings, FORECAST=False)
    result = evaluate.evaluate_rule(rule, now=now)
    assert result.result == evaluate.RECOMMEND
    assert [m.guest for m in result.plan.moves] == ["busy-vm"]
    assert all(h.forecast is None for h in build_view(rule, now).snapshot.hosts)


def test_a_failing_history_query_costs_the_forecasts_only_and_says_so(spiky_cluster, monkeypatch):
    now, _hot, _spare, rule = spiky_cluster

    def broken(self, *args, **kwargs):
        raise SourceError("metric source database did not answer in 10 s")

    monkeypatch.setattr("automigrate.sources.database.DatabaseSource.host_cpu_history", broken)
    result = evaluate.evaluate_rule(rule, now=now)
    assert result.result == evaluate.RECOMMEND  # judged on the window means, as without forecasts
    event = Event.objects.get(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
    assert "no forecasts this round (metric source database did not answer in 10 s)" in event.summary
    assert event.notes["forecast_error"].startswith("no forecasts this round")


def test_history_before_the_hosts_latest_migration_is_not_used(spiky_cluster):
    """A migration 4 minutes ago changed hot's guests: the spike before it says nothing about now."""
    now, hot, spare, rule = spiky_cluster
    Migration.objects.create(guest=Guest.objects.get(name="busy-vm"), source=spare, target=hot,
                             state=Migration.State.SUCCEEDED, finished_at=now - timedelta(seconds=240))
    view = build_view(rule, now)
    cast = {h.name: h for h in view.snapshot.hosts}["hot"].forecast
    assert cast.kind == "window_mean"
    assert cast.value == pytest.approx(61.0)
