"""The policy on forecasts: a finished spike is not acted on, targets are judged on their forecast."""

from __future__ import annotations

from dataclasses import replace

import pytest

from automigrate.engine import Tuning, plan
from automigrate.engine.forecast import Forecast, forecast
from tests.engine.builders import cpu_rule, guest, host, snap


def predicted(value: float, spread: float = 0.0, mean: float = 0.0, kind: str = "steady") -> Forecast:
    return Forecast(value, spread, 600, kind, f"forecast {value:.0f} % for the next 10 min: {kind}", mean)


def hot_cluster(source_forecast=None, target_forecasts=None):
    """h1 at 71 % (40 cores) with guests that can relieve it; two idle targets."""
    target_forecasts = target_forecasts or {}
    hosts = [
        host("h1", 71.0, forecast=source_forecast),
        host("t1", 10.0, forecast=target_forecasts.get("t1")),
        host("t2", 30.0, forecast=target_forecasts.get("t2")),
    ]
    guests = [guest(f"g{i}", "h1", 90.0, vcpus=4, mem_mb=4096) for i in range(8)]
    return snap(hosts, guests)


def test_a_finished_spike_is_not_acted_on_and_says_why():
    spike = forecast([30.0] * 8 + [96.0, 46.0], window_steps=2, step_seconds=300)
    assert spike.kind == "spike_ended"
    cluster = hot_cluster(source_forecast=spike)
    result = plan(cluster, cpu_rule(60))
    assert result.moves == []
    assert result.result == "not_triggered"
    assert result.triggered == []
    (held,) = [s for s in result.skipped if s.reason == "forecast_under"]
    assert held.host == "h1"
    assert "spike that ended" in held.detail
    assert "nothing moved" in held.detail and "71.0 %" in held.detail
    # Without the forecast the very same cluster moves guests off h1: the old behaviour.
    before = plan(replace(cluster, hosts=tuple(replace(h, forecast=None) for h in cluster.hosts)), cpu_rule(60))
    assert before.moves and before.result == "migrating"


def test_a_forecast_that_stays_over_the_threshold_acts_as_before():
    cluster = hot_cluster(source_forecast=predicted(70.0, 2.0, 71.0))
    result = plan(cluster, cpu_rule(60))
    assert result.moves
    assert not [s for s in result.skipped if s.reason == "forecast_under"]


def test_an_uncertain_forecast_under_the_threshold_is_not_trusted():
    # 55 % +- 8: the cautious value 63 % is over 60, so the host is relieved.
    cluster = hot_cluster(source_forecast=predicted(55.0, 8.0, 71.0))
    assert plan(cluster, cpu_rule(60), tuning=Tuning(forecast_z=1.0)).moves
    # Trusting the point forecast alone (z = 0) holds it.
    assert plan(cluster, cpu_rule(60), tuning=Tuning(forecast_z=0.0)).moves == []


def test_without_forecasts_the_plan_is_unchanged():
    plain = hot_cluster()
    with_none = plan(plain, cpu_rule(60))
    assert with_none.moves
    assert with_none.to_dict() == plan(plain, cpu_rule(60), tuning=Tuning(forecast_z=0, forecast_target_z=0)).to_dict()


def test_a_target_forecast_to_rise_is_not_filled():
    # On means t1 (10 %) has the most headroom; its forecast says 58 % +- 1 next window.
    rising = predicted(58.0, 1.0, 10.0, "rising")
    result = plan(hot_cluster(target_forecasts={"t1": rising}), cpu_rule(60))
    assert result.moves
    assert {m.target for m in result.moves} == {"t2"}
    # Without the forecast t1 is the first choice.
    assert "t1" in {m.target for m in plan(hot_cluster(), cpu_rule(60)).moves}


def test_a_target_planned_on_its_forecast_is_reported_on_its_mean():
    rising = predicted(40.0, 1.0, 10.0, "rising")
    result = plan(hot_cluster(target_forecasts={"t1": rising, "t2": predicted(45.0, 1.0, 30.0)}), cpu_rule(60))
    assert result.moves
    moved_to_t1 = sum(m.target_score for m in result.moves if m.target == "t1")
    # Planned from 41 % (its cautious forecast), reported from its 10 % mean plus what it takes.
    assert result.hosts_after["t1"] == pytest.approx(10.0 + moved_to_t1)


def test_a_falling_target_is_still_judged_on_its_mean():
    # A forecast under the mean never makes a target look emptier than it was measured.
    falling = predicted(1.0, 0.5, 30.0, "falling")
    result = plan(hot_cluster(target_forecasts={"t2": falling}), cpu_rule(60))
    first_on_t2 = [m for m in result.moves if m.target == "t2"]
    assert all(m.target_before >= 30.0 for m in first_on_t2)


def test_memory_rules_ignore_cpu_forecasts_for_firing():
    from tests.engine.builders import mem_rule

    hosts = [host("h1", 50.0, mem_gib=4, forecast=predicted(10.0, 0.0, 50.0)), host("t1", 10.0, mem_gib=200)]
    result = plan(snap(hosts, [guest("g1", "h1", 10.0, mem_mb=8192)]), mem_rule(16))
    assert result.moves
