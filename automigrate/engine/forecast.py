"""Short-horizon forecast of a host's (or guest's) CPU over the next window. Pure Python.

A rule judges a host on its window mean, but a 10-minute mean can be high
only because of samples that have already ended: acting on it copies memory
for a load that is gone. So beside the mean the engine may get a forecast of
the next window, with its own uncertainty, and fire on what the host will do.

``forecast()`` reads the recent buckets (equal-width means, oldest first,
the last ``window_steps`` of them being the current window) and, when
history exists, the mean of the next window at the same time yesterday and
a week ago. It:

* smooths the recent buckets with a damped trend (Holt's linear method), so
  a finished spike weighs only as much as its last buckets say, a step change
  becomes the new level, and a steady rise is carried one window ahead;
* measures its own error on the same history (each past point predicting the
  window after it) and reports it as ``spread``, one standard deviation;
* blends in the seasonal values when given (same time yesterday, a week ago);
* says in one line why (``reason``), with the numbers.

Too little history (fewer than MIN_HISTORY buckets before the window) gives
the window mean itself, with no spread: exactly the behaviour without a forecast.

Values are CPU percentages (0-100); the forecast is clipped to that range.
The same function serves the live evaluator (buckets from the metric source)
and the trace replay (steps of the trace), so the two cannot drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Buckets before the current window needed to judge a trend and to measure the error.
MIN_HISTORY = 2
# Smoothing of the level and the trend, and the trend's damping per step (set by hand on
# synthetic series; not tuned on the traces, see BENCHMARKS.md "Forecasts (issue 14)").
ALPHA = 0.7
BETA = 0.2
PHI = 0.8
# Weight of the recent history against the seasonal values (yesterday, a week ago).
RECENT_WEIGHT = 0.7
# Error floor, in points: a perfectly flat history does not make the forecast exact.
MIN_SPREAD = 1.0
# How the spread is measured from the past errors: 1 = robust (1.4826 x the median absolute
# error: one past spike does not make every later forecast uncertain, repeated ones do),
# 0 = root mean square.
ROBUST_SPREAD = 1
# A window mean this many points over the forecast, with its peak gone, is called a finished spike;
# a change smaller than this (or than the spread) is called steady.
NOTABLE_POINTS = 3.0


@dataclass(frozen=True)
class Forecast:
    """The expected mean of the next window, with one standard deviation of its error."""

    value: float
    spread: float
    horizon_seconds: int
    kind: str  # window_mean | spike_ended | rising | falling | steady (+ "+seasonal")
    reason: str
    window_mean: float

    def upper(self, z: float) -> float:
        """The forecast ``z`` spreads up: what a cautious judge assumes the host may reach."""
        return min(100.0, self.value + z * self.spread)

    def lower(self, z: float) -> float:
        return max(0.0, self.value - z * self.spread)

    def to_dict(self) -> dict:
        return {
            "value": round(self.value, 3), "spread": round(self.spread, 3), "horizon_seconds": self.horizon_seconds,
            "kind": self.kind, "reason": self.reason, "window_mean": round(self.window_mean, 3),
        }


def window_mean_only(mean: float, horizon_seconds: int, why: str = "no history beyond the window") -> Forecast:
    """The fallback: the window mean itself, no spread (the engine then behaves as without forecasts)."""
    return Forecast(mean, 0.0, horizon_seconds, "window_mean",
                    f"{why}: the forecast is the window mean, {mean:.1f} %", mean)


def forecast(
    recent: Sequence[float],
    *,
    window_steps: int,
    step_seconds: float,
    window_mean: float | None = None,
    yesterday: float | None = None,
    week_ago: float | None = None,
    end: datetime | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    phi: float | None = None,
) -> Forecast:
    """Forecast the mean of the ``window_steps`` buckets after ``recent`` (see the module doc).

    ``window_mean`` is the current window's mean as the rule reads it (default:
    the mean of the last ``window_steps`` buckets); ``end`` is when the last
    bucket ends, to name the time a spike ended.
    """
    if window_steps < 1 or step_seconds <= 0:
        raise ValueError("window_steps and step_seconds must be positive")
    horizon = round(window_steps * step_seconds)
    values = [min(100.0, max(0.0, float(v))) for v in recent if v is not None and math.isfinite(v)]
    window = values[-window_steps:]
    if window_mean is None:
        if not window:
            raise ValueError("no window mean and no buckets to take it from")
        window_mean = sum(window) / len(window)
    if len(values) < window_steps + MIN_HISTORY:
        return _seasonal_only(window_mean, horizon, yesterday, week_ago)

    # Read at call time (not as default arguments), so a benchmark can tune the module's constants.
    predicted, errors = _holt(values, window_steps, ALPHA if alpha is None else alpha,
                              BETA if beta is None else beta, PHI if phi is None else phi)
    spread = max(MIN_SPREAD, _spread(errors)) if errors else MIN_SPREAD
    kind, why = _describe(values, window_steps, window_mean, predicted, spread, step_seconds, end)
    value, spread, seasonal = _blend(predicted, spread, yesterday, week_ago)
    value = min(100.0, max(0.0, value))
    minutes = horizon / 60.0
    reason = f"forecast {value:.0f} % for the next {minutes:g} min: {why}{seasonal}"
    return Forecast(value, spread, horizon, kind + ("+seasonal" if seasonal else ""), reason, window_mean)


def _holt(values: list[float], h: int, alpha: float, beta: float, phi: float) -> tuple[float, list[float]]:
    """The damped-trend prediction of the next ``h`` buckets' mean, and the errors of the same
    prediction made at every earlier point of ``values`` that has ``h`` buckets after it."""
    # Sum of phi^1..phi^h over h: the mean trend multiplier over the next h steps.
    damp = sum(phi**i for i in range(1, h + 1)) / h
    level, trend = values[0], 0.0
    errors: list[float] = []
    n = len(values)
    for i in range(1, n):
        previous = level
        level = alpha * values[i] + (1 - alpha) * (level + phi * trend)
        trend = beta * (level - previous) + (1 - beta) * phi * trend
        if i >= MIN_HISTORY - 1 and i + h < n:
            actual = sum(values[i + 1:i + 1 + h]) / h
            errors.append(level + damp * trend - actual)
    return level + damp * trend, errors


def _spread(errors: list[float]) -> float:
    if ROBUST_SPREAD:
        ordered = sorted(abs(e) for e in errors)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        return 1.4826 * median
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def _describe(
    values: list[float], h: int, mean: float, predicted: float, spread: float, step: float, end: datetime | None
) -> tuple[str, str]:
    """What the recent buckets show, in words: a finished spike, a trend, or a steady level."""
    window = values[-h:]
    before = values[:-h]
    peak = max(window)
    last = values[-1]
    # A finished spike: the window mean is well above the forecast, the window's peak
    # is above its mean, and the latest bucket is back down near where the forecast is.
    if mean - predicted >= NOTABLE_POINTS and peak > mean and last < (peak + predicted) / 2:
        midpoint = (peak + predicted) / 2
        ended_steps = 0  # buckets since the last one above the midpoint
        for value in reversed(values):
            if value > midpoint:
                break
            ended_steps += 1
        when = _when(end, ended_steps * step)
        return "spike_ended", f"the {mean:.0f} % mean was a spike that ended {when}"
    base = sum(before[-h:]) / len(before[-h:])
    change = predicted - base
    if abs(change) < max(spread, NOTABLE_POINTS):
        return "steady", f"steady near {predicted:.0f} % (the window mean is {mean:.0f} %)"
    per = h * step / 60.0
    direction = "rising" if change > 0 else "falling"
    return direction, (f"{direction} {abs(change):.0f} points since the window before"
                       f" ({base:.0f} % -> {last:.0f} % in the last {per:g} min, the window mean is {mean:.0f} %)")


def _when(end: datetime | None, seconds_ago: float) -> str:
    if end is None:
        return f"{seconds_ago / 60.0:g} min ago"
    return f"at {(end - timedelta(seconds=seconds_ago)):%H:%M}"


def _blend(
    predicted: float, spread: float, yesterday: float | None, week_ago: float | None
) -> tuple[float, float, str]:
    """The recent prediction blended with the seasonal values, when there are any.

    Their disagreement with the recent prediction widens the spread: when
    yesterday says 80 % and the last hour says 40 %, neither is certain.
    """
    seasonal = [(v, label) for v, label in ((yesterday, "yesterday"), (week_ago, "a week ago")) if v is not None]
    if not seasonal:
        return predicted, spread, ""
    season = sum(v for v, _ in seasonal) / len(seasonal)
    value = RECENT_WEIGHT * predicted + (1 - RECENT_WEIGHT) * season
    disagreement = abs(season - predicted) * (1 - RECENT_WEIGHT)
    spread = math.sqrt(spread**2 + disagreement**2)
    said = ", ".join(f"{v:.0f} % {label}" for v, label in seasonal)
    return value, spread, f"; blended with the next window at this time {said}"


def _seasonal_only(mean: float, horizon: int, yesterday: float | None, week_ago: float | None) -> Forecast:
    if yesterday is None and week_ago is None:
        return window_mean_only(mean, horizon)
    value, spread, said = _blend(mean, 0.0, yesterday, week_ago)
    return Forecast(value, spread, horizon, "window_mean+seasonal",
                    f"forecast {value:.0f} % for the next {horizon / 60:g} min: too little recent history,"
                    f" the window mean {mean:.0f} %{said}", mean)
