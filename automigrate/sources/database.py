"""Metrics from our own sample tables, filled by the simulator or by InfluxDB-style pushes."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db.models import Avg

from automigrate.engine.model import METRICS
from automigrate.models import GuestSample, HostSample
from automigrate.sources.base import MetricSource


class DatabaseSource(MetricSource):
    name = "database"
    # Our own tables: bounded by statement_timeout (DATABASE_STATEMENT_TIMEOUT_SECONDS).
    bounded_by_database = True

    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        return host_window_means(since, until)

    def guest_means(
        self, since: datetime, until: datetime, guest_ids: Collection[int] | None = None
    ) -> dict[int, float]:
        return guest_window_means(since, until, guest_ids)


def host_window_means(since: datetime, until: datetime) -> dict[int, dict[str, float]]:
    """One query: AVG(value) GROUP BY host, metric over the window (index on metric, time)."""
    rows = (
        HostSample.objects.filter(metric__in=METRICS, time__gt=since, time__lte=until)
        .order_by()
        .values("host_id", "metric")
        .annotate(mean=Avg("value"))
        .values_list("host_id", "metric", "mean")
    )
    means: dict[int, dict[str, float]] = {}
    for host_id, metric, mean in rows:
        means.setdefault(host_id, {})[metric] = mean
    return means


def guest_window_means(since: datetime, until: datetime, guest_ids: Collection[int] | None = None) -> dict[int, float]:
    """One query: AVG(cpu) GROUP BY guest over the window (index on guest, time when ids are given)."""
    samples = GuestSample.objects.filter(time__gt=since, time__lte=until)
    if guest_ids is not None:
        if not guest_ids:
            return {}
        samples = samples.filter(guest_id__in=list(guest_ids))
    rows = (
        samples.order_by()
        .values("guest_id")
        .annotate(mean=Avg("cpu"))
        .values_list("guest_id", "mean")
    )
    return dict(rows)
