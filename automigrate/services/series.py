"""Metric series for charts, downsampled by the metric source.

A host's chart over 7 days of 10-second samples is 60,000 points per metric;
browsers and Plotly choke on that, and shipping it costs more than computing
it. So the store averages samples into fixed buckets (at most
``MAX_POINTS`` per series whatever the range) and only the buckets travel:
SQL for our own tables, ``GROUP BY time()`` in InfluxDB, ``step`` in
Prometheus and VictoriaMetrics (MetricSource.host_series).

Buckets are aligned on the epoch (``floor(epoch / bucket)``), not on the
start of the range, so a chart refreshed every few seconds keeps the same
points instead of shimmering as the window slides.

"Current" values are not computed here: they are window means, and those have
one definition, automigrate.services.metrics (the configured metric source),
the same numbers the evaluator compares. ``host_window_means`` only picks the
dashboard's short window for them.

Used by the dashboard and the API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from automigrate.services import metrics

MAX_POINTS = 2000

# The chart ranges offered to people, in seconds.
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
DEFAULT_RANGE = "6h"


@dataclass
class Series:
    """One downsampled series: bucket start times and bucket means."""

    times: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    bucket_seconds: int = 0

    def __len__(self) -> int:
        return len(self.times)


def bucket_seconds_for(span_seconds: float, max_points: int = MAX_POINTS) -> int:
    """The bucket width that keeps a span under ``max_points`` buckets.

    One less than the cap, because epoch-aligned buckets may straddle both
    ends of the range.
    """
    return max(1, math.ceil(span_seconds / max(1, max_points - 1)))


def range_bounds(range_key: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now - timedelta(seconds=RANGES.get(range_key, RANGES[DEFAULT_RANGE])), now


def host_series(
    host_id: int, metric: str, start: datetime, end: datetime, max_points: int = MAX_POINTS
) -> Series:
    """One host's metric between ``start`` and ``end``, at most ``max_points`` bucket means."""
    bucket = bucket_seconds_for((end - start).total_seconds(), max_points)
    points = metrics.host_series(host_id, metric, start, end, bucket)
    return Series(times=[time for time, _ in points], values=[value for _, value in points], bucket_seconds=bucket)


def current_window_seconds() -> int:
    """How far back "now" looks: a few sample intervals, at least a minute.

    A single latest sample is noisy and needs a per-backend DISTINCT ON; a
    short mean is one GROUP BY over the (metric, time) index on both backends.
    """
    return int(max(60, 3 * settings.AUTOMIGRATE["SAMPLE_INTERVAL_SECONDS"]))


def host_window_means(
    window_seconds: int | None = None,
    host_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> dict[int, dict[str, float]]:
    """Mean cpu.usage_active and mem.available per host over the last window (default: the current one).

    The means are services.metrics.host_means, as the evaluator sees them (samples in
    ``(now - window, now]``), one query; hosts without samples in the window are absent.
    """
    means = metrics.host_means(window_seconds or current_window_seconds(), now or timezone.now())
    if host_ids is None:
        return means
    wanted = set(host_ids)
    return {host_id: values for host_id, values in means.items() if host_id in wanted}
