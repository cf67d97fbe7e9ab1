"""Downsampled series: bucketed in SQL, at most MAX_POINTS per series, means kept."""

from datetime import UTC, datetime, timedelta

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import HostSample
from automigrate.services import series

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def write(host, metric, values, step_seconds, start=T0):
    HostSample.objects.bulk_create(
        HostSample(host=host, metric=metric, time=start + timedelta(seconds=i * step_seconds), value=value)
        for i, value in enumerate(values)
    )


def test_short_ranges_keep_every_sample(make_host):
    host = make_host("h1")
    write(host, CPU, [10, 20, 30, 40], step_seconds=10)
    result = series.host_series(host.pk, CPU, T0, T0 + timedelta(seconds=40))
    assert result.bucket_seconds == 1
    assert result.values == [10, 20, 30, 40]
    assert result.times[1] == T0 + timedelta(seconds=10)


def test_long_ranges_are_capped_and_averaged(make_host):
    host = make_host("h1")
    # 7 days at one sample per 60 s: 10,080 samples, alternating 0 and 100.
    count = 7 * 24 * 60
    write(host, CPU, [0 if i % 2 == 0 else 100 for i in range(count)], step_seconds=60)
    end = T0 + timedelta(days=7)
    result = series.host_series(host.pk, CPU, T0, end)
    assert 1000 < len(result) <= series.MAX_POINTS
    assert result.bucket_seconds == series.bucket_seconds_for(7 * 86400)
    # Every bucket holds an even number of alternating samples except at the edges: means sit near 50.
    middle = result.values[1:-1]
    assert all(0 <= v <= 100 for v in result.values)
    assert abs(sum(middle) / len(middle) - 50) < 1


def test_buckets_are_aligned_on_the_epoch_so_refreshes_do_not_shift_points(make_host):
    host = make_host("h1")
    write(host, CPU, list(range(600)), step_seconds=10)
    first = series.host_series(host.pk, CPU, T0, T0 + timedelta(hours=1), max_points=100)
    later = series.host_series(host.pk, CPU, T0 + timedelta(seconds=20), T0 + timedelta(hours=1, seconds=20),
                               max_points=100)
    bucket = first.bucket_seconds
    assert all(int(t.timestamp()) % bucket == 0 for t in first.times)
    shared = set(first.times[1:-1]) & set(later.times)
    assert shared and all(
        first.values[first.times.index(t)] == later.values[later.times.index(t)] for t in shared
    )


def test_other_hosts_and_metrics_stay_out(make_host):
    one, two = make_host("h1"), make_host("h2")
    write(one, CPU, [50] * 10, step_seconds=10)
    write(two, CPU, [90] * 10, step_seconds=10)
    write(one, MEM, [1e9] * 10, step_seconds=10)
    result = series.host_series(one.pk, CPU, T0, T0 + timedelta(minutes=5))
    assert set(result.values) == {50}


def test_window_means_per_host_and_metric(make_host):
    one, two, silent = make_host("h1"), make_host("h2"), make_host("h3")
    now = T0 + timedelta(minutes=10)
    write(one, CPU, [10, 30], step_seconds=20, start=now - timedelta(seconds=30))
    write(one, MEM, [4e9], step_seconds=10, start=now - timedelta(seconds=5))
    write(two, CPU, [99], step_seconds=10, start=now - timedelta(minutes=9))  # too old
    write(silent, CPU, [], step_seconds=10)
    means = series.host_window_means(60, now=now)
    assert means == {one.pk: {CPU: 20.0, MEM: 4e9}}


def test_window_means_are_the_evaluators_means(make_host):
    """One definition: the dashboard's current values are services.metrics' means, same window edge."""
    from automigrate.services import metrics

    one, two = make_host("h1"), make_host("h2")
    now = T0 + timedelta(minutes=10)
    # A sample exactly at the window's start is outside it for the evaluator, so here too.
    write(one, CPU, [90, 10], step_seconds=60, start=now - timedelta(seconds=60))
    write(two, CPU, [40], step_seconds=10, start=now - timedelta(seconds=5))
    assert series.host_window_means(60, now=now) == metrics.host_means(60, now) == {
        one.pk: {CPU: 10.0}, two.pk: {CPU: 40.0}
    }
    assert series.host_window_means(60, host_ids=[two.pk], now=now) == {two.pk: {CPU: 40.0}}
