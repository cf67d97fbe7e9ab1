"""Replays with forecasts: a finished spike is left alone, a sustained overload is still relieved."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from automigrate.simulator.replay import ReplayConfig, replay
from tests.simulate.trace_builders import guest, host, trace, write_json

STEPS = 24


def spike_then_calm():
    """h1 at 45 % for 50 minutes, one 5-minute step at 85 % (step 10), then 45 % again; h2 idle.

    (vm1 4 vCPUs at 20 %, or 100 % in the spike, + vm2 4 vCPUs at 70 %) / 8 cores. The check
    at step 12 reads steps 10-11: a 65 % mean, from a spike that has ended.
    """
    burst = [20.0] * 10 + [100.0] + [20.0] * (STEPS - 11)
    return trace(
        [host("h1"), host("h2")],
        [guest("vm1", "h1", burst, mem_mb=8192), guest("vm2", "h1", [70.0] * STEPS), guest("vm3", "h2", [5.0] * STEPS)],
    )


def sustained():
    """h1 at 70 % for the whole trace: whatever the forecast, it must be relieved."""
    return trace(
        [host("h1"), host("h2")],
        [guest("vm1", "h1", [100.0] * STEPS, mem_mb=8192), guest("vm2", "h1", [40.0] * STEPS),
         guest("vm3", "h2", [5.0] * STEPS)],
    )


def test_a_finished_spike_moves_nothing_with_forecasts_and_something_without():
    without = replay(spike_then_calm(), ReplayConfig())
    with_forecast = replay(spike_then_calm(), ReplayConfig(forecast=True))
    assert without.migrations >= 1
    assert with_forecast.migrations == 0
    # Nothing was lost by not moving: the spike was over before any move could land.
    assert with_forecast.overload_host_minutes <= without.overload_host_minutes


def test_a_sustained_overload_is_relieved_with_forecasts_too():
    result = replay(sustained(), ReplayConfig(forecast=True))
    assert result.migrations >= 1
    assert result.overload_host_minutes < replay(sustained(), ReplayConfig(policy="none")).overload_host_minutes


def test_forecast_history_windows_must_be_positive():
    with pytest.raises(ValueError, match="forecast_history_windows"):
        ReplayConfig(forecast=True, forecast_history_windows=0)


@pytest.mark.django_db
def test_simulate_forecast_option(tmp_path, capsys):
    path = write_json(tmp_path, spike_then_calm())
    call_command("simulate", "--trace", str(path), "--json")
    plain = json.loads(capsys.readouterr().out)
    call_command("simulate", "--trace", str(path), "--json", "--forecast")
    forecast = json.loads(capsys.readouterr().out)
    assert plain["migrations"] >= 1
    assert forecast["migrations"] == 0
