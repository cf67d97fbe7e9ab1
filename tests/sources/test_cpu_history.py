"""The forecasts' history question from every source: the same buckets and seasonal means, in one question."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automigrate.sources import get_source
from tests.sources.conftest import cpu_line
from tests.sources.test_window_means import any_source, inventory  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
BUCKET = 120


def history_lines(now):
    lines = []
    # node-1 (by host_id): bucket k, i.e. (now - (k+1)·120 s, now - k·120 s], holds 10·(k+1) for k = 0..4.
    for ago in range(0, 600, 10):
        lines.append(cpu_line("node-1", 10.0 * (ago // BUCKET + 1), now - timedelta(seconds=ago), host_id="uuid-1"))
    # A seasonal range (now - 1800 s, now - 1680 s]: 77 inside, 0 on its open start and just after its end.
    for ago in range(1680, 1800, 10):
        lines.append(cpu_line("node-1", 77.0, now - timedelta(seconds=ago), host_id="uuid-1"))
    lines += [cpu_line("node-1", 0.0, now - timedelta(seconds=1800), host_id="uuid-1"),
              cpu_line("node-1", 0.0, now - timedelta(seconds=1670), host_id="uuid-1")]
    # node-2 by its host tag only, in bucket 0 only; a per-core series that is not the host's.
    lines += [cpu_line("node-2", 40.0, now - timedelta(seconds=30)), cpu_line("node-2", 60.0, now)]
    lines.append(cpu_line("node-2", 100.0, now, cpu="cpu0"))
    return lines


def test_buckets_end_at_until_and_seasonal_ranges_are_means_of_their_own(any_source, inventory, now):  # noqa: F811
    node1, node2, node3, *_ = inventory
    any_source(history_lines(now))
    seasonal = [(now - timedelta(seconds=1800), now - timedelta(seconds=1680))]
    history = get_source().host_cpu_history(now - timedelta(seconds=5 * BUCKET), now, BUCKET, seasonal)
    assert history.buckets[node1.pk] == {k: pytest.approx(10.0 * (k + 1), rel=1e-9) for k in range(5)}
    assert history.recent(node1.pk, 5) == pytest.approx([50.0, 40.0, 30.0, 20.0, 10.0], rel=1e-9)
    assert history.buckets[node2.pk] == {0: pytest.approx(50.0, rel=1e-9)}
    assert node3.pk not in history.buckets
    assert history.seasonal[0] == {node1.pk: pytest.approx(77.0, rel=1e-9)}


def test_the_database_reads_yesterday_from_the_five_minute_rollups(inventory, now, settings):  # noqa: F811
    """Raw samples are kept for hours at most; the same window yesterday comes from the roll-ups, sample-weighted."""
    from automigrate.models import HostRollup5m, HostSample
    from automigrate.sources.database import DatabaseSource

    node1, node2, *_ = inventory
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database"}
    day_ago = now - timedelta(days=1)
    rollup = dict(metric=HostSample.Metric.CPU_USAGE_ACTIVE, max=100.0)
    HostRollup5m.objects.bulk_create([
        HostRollup5m(host=node1, time=day_ago, mean=80.0, samples=30, **rollup),
        HostRollup5m(host=node1, time=day_ago + timedelta(minutes=5), mean=20.0, samples=10, **rollup),
        # Starts at the range's end: not in it.
        HostRollup5m(host=node1, time=day_ago + timedelta(minutes=10), mean=0.0, samples=30, **rollup),
        HostRollup5m(host=node2, time=day_ago + timedelta(minutes=5), mean=33.0, samples=30, **rollup),
    ])
    seasonal = [(day_ago, day_ago + timedelta(minutes=10))]
    history = DatabaseSource().host_cpu_history(now - timedelta(seconds=5 * BUCKET), now, BUCKET, seasonal)
    # (80·30 + 20·10) / 40 = 65
    assert history.seasonal[0] == {node1.pk: pytest.approx(65.0), node2.pk: pytest.approx(33.0)}
