"""The forecaster on synthetic series: trend, daily pattern, finished spike, step change, missing history."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from automigrate.engine.forecast import forecast

STEP = 300  # 5-minute buckets
END = datetime(2026, 3, 3, 12, 10, tzinfo=UTC)


def cast(series, **kw):
    return forecast(series, window_steps=2, step_seconds=STEP, end=END, **kw)


def test_a_steady_rise_is_carried_one_window_ahead():
    rising = [30 + 3 * i for i in range(12)]  # 30 .. 63, 3 points per bucket
    result = cast(rising)
    mean = (rising[-1] + rising[-2]) / 2
    truth = (rising[-1] + 3 + rising[-1] + 6) / 2  # the next two buckets
    assert result.kind == "rising"
    assert result.value > mean + 1
    assert abs(result.value - truth) < abs(mean - truth)
    assert "rising" in result.reason and "next 10 min" in result.reason


def test_a_steady_fall_is_forecast_under_the_mean():
    falling = [80 - 3 * i for i in range(12)]
    result = cast(falling)
    assert result.kind == "falling"
    assert result.value < (falling[-1] + falling[-2]) / 2


def test_a_finished_spike_is_recognised_and_named_with_its_end():
    series = [30.0] * 8 + [92.0, 31.0]  # the window (last two buckets) means 61.5 only because of the 92
    result = cast(series)
    assert result.window_mean == pytest.approx(61.5)
    assert result.kind == "spike_ended"
    assert result.value < 50
    # The spike's bucket ended 5 minutes before the window's end (12:10).
    assert "spike that ended at 12:05" in result.reason
    assert "62 % mean" in result.reason


def test_a_spike_still_running_is_not_called_finished():
    series = [30.0] * 9 + [92.0]
    result = cast(series)
    assert result.kind != "spike_ended"
    assert result.value > result.window_mean


def test_a_step_change_becomes_the_new_level_not_an_average():
    series = [30.0] * 6 + [70.0] * 4  # up 40 points two windows ago, and it stayed
    result = cast(series)
    assert abs(result.value - 70) < 5
    assert result.kind in ("steady", "rising")  # the step is over: no falling back towards 30


def test_missing_history_falls_back_to_the_window_mean_with_no_spread():
    result = cast([55.0, 65.0])
    assert result.kind == "window_mean"
    assert result.value == pytest.approx(60.0)
    assert result.spread == 0
    assert "window mean" in result.reason


def test_given_window_mean_wins_over_the_buckets_when_history_is_missing():
    result = cast([50.0], window_mean=61.0)
    assert result.value == pytest.approx(61.0)


def test_uncertainty_grows_with_noise():
    calm = cast([50, 51, 49, 50, 51, 50, 49, 50, 51, 50])
    noisy = cast([50, 70, 35, 60, 40, 65, 30, 55, 45, 50])
    assert noisy.spread > 3 * calm.spread
    assert calm.upper(1) - calm.value == pytest.approx(calm.spread)


def _day(step: int) -> float:
    # A daily pattern of 288 five-minute steps: 40 % at night, 80 % at the afternoon peak.
    return 60 - 20 * math.cos(2 * math.pi * step / 288)


def test_a_daily_pattern_from_yesterday_improves_the_forecast_at_the_turns():
    """Around the day's turning points the recent trend overshoots; yesterday's next window knows better."""
    errors_recent, errors_seasonal = [], []
    for now in range(288, 576, 6):
        recent = [_day(k) for k in range(now - 12, now)]
        truth = (_day(now) + _day(now + 1)) / 2
        yesterday = (_day(now - 288) + _day(now - 287)) / 2
        errors_recent.append(abs(cast(recent).value - truth))
        seasonal = cast(recent, yesterday=yesterday + 1.0, week_ago=yesterday - 1.0)
        errors_seasonal.append(abs(seasonal.value - truth))
        assert seasonal.kind.endswith("+seasonal")
        assert "yesterday" in seasonal.reason and "a week ago" in seasonal.reason
    assert max(errors_seasonal) < max(errors_recent)
    assert sum(errors_seasonal) < sum(errors_recent)


def test_seasonal_values_disagreeing_with_the_recent_past_widen_the_spread():
    flat = [40.0] * 10
    alone = cast(flat)
    blended = cast(flat, yesterday=80.0)
    assert alone.value < blended.value < 80
    assert blended.spread > alone.spread + 5


def test_seasonal_values_without_recent_history_are_blended_with_the_window_mean():
    result = cast([50.0, 50.0], yesterday=80.0)
    assert 50 < result.value < 80
    assert result.spread > 0


def test_values_are_clipped_to_percentages():
    result = cast([90.0 + i for i in range(10)])
    assert result.value <= 100.0
    assert result.upper(3) <= 100.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        forecast([50.0], window_steps=0, step_seconds=STEP)
    with pytest.raises(ValueError):
        forecast([], window_steps=2, step_seconds=STEP)
