"""Metrics from our own sample tables, filled by the simulator or by InfluxDB-style pushes."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db.models import Avg, FloatField, Func, OuterRef, Subquery

from automigrate.engine.model import METRICS
from automigrate.models import Guest, GuestSample, HostSample
from automigrate.sources.base import MetricSource


class DatabaseSource(MetricSource):
    name = "database"
    # Our own tables: bounded by statement_timeout (DATABASE_STATEMENT_TIMEOUT_SECONDS).
    bounded_by_database = True

    def describe(self) -> str:
        return "metric source database (samples from the simulator or /write)"

    def host_means(self, since: datetime, until: datetime) -> dict[int, dict[str, float]]:
        return host_window_means(since, until)

    def guest_means(
        self, since: datetime, until: datetime, guest_ids: Collection[int] | None = None
    ) -> dict[int, float]:
        return guest_window_means(since, until, guest_ids)


def host_window_means(since: datetime, until: datetime) -> dict[int, dict[str, float]]:
    """One query: AVG(value) GROUP BY host, metric over the window (index on metric, time).

    Values a metric cannot have are left out (HostSampleQuerySet.in_range): a host
    with only such samples has no mean, and the evaluation reports it stale.
    """
    rows = (
        HostSample.objects.filter(metric__in=METRICS, time__gt=since, time__lte=until)
        .in_range()
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
    """Mean CPU per guest over the window, in one query.

    For given guests (an evaluation's candidates) each mean is a correlated
    subquery, so the database reads each guest's window through the
    (guest, time) index: a GROUP BY over ``guest_id IN (...)`` lets PostgreSQL
    walk the window of every guest in the cluster instead. Without ids, one
    GROUP BY over the time range.
    """
    window = GuestSample.objects.filter(time__gt=since, time__lte=until).in_range()
    if guest_ids is None:
        rows = window.order_by().values("guest_id").annotate(mean=Avg("cpu")).values_list("guest_id", "mean")
        return dict(rows)
    if not guest_ids:
        return {}
    per_guest = (
        window.filter(guest_id=OuterRef("pk")).order_by().values("guest_id").annotate(mean=Avg("cpu")).values("mean")
    )
    rows = (
        Guest.objects.filter(pk__in=list(guest_ids)).order_by()
        .annotate(mean=Subquery(per_guest, output_field=FloatField())).values_list("pk", "mean")
    )
    return {pk: mean for pk, mean in rows if mean is not None}


class Epoch(Func):
    """Seconds since 1970-01-01 UTC of a datetime column, as a float.

    Django has no portable epoch extraction, so each backend gets its own SQL.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::double precision", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores datetimes as ISO text on SQLite; julianday() parses it. SQLite keeps
        # milliseconds internally, so rounding to 3 decimals undoes the float error that would
        # otherwise drop a sample at 12:00:10 into the 12:00:09 bucket.
        return self.as_sql(
            compiler, connection, template="ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0, 3)", **extra
        )


def bucketed_host_series(
    host_id: int, metric: str, start: datetime, end: datetime, bucket: int
) -> list[tuple[datetime, float]]:
    """Bucket means (floor(epoch / bucket)) of samples in [start, end]: from raw samples, or from the
    1-/5-minute roll-ups for buckets of a minute or more and for ranges past the raw retention
    (automigrate.services.history)."""
    from automigrate.services import history

    return history.host_series(host_id, metric, start, end, bucket)
