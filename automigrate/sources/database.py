"""Metrics from our own sample tables, filled by the simulator or by InfluxDB-style pushes."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Avg, FloatField, Func, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Floor

from automigrate.engine.model import CPU, MEM, METRICS
from automigrate.models import Guest, GuestSample, Host, HostSample
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
    """AVG per host of each metric over the window, in one query whatever the number of hosts.

    Values a metric cannot have are left out (HostSampleQuerySet.in_range): a host
    with only such samples has no mean, and the evaluation reports it stale.

    in_range bounds memory by the host's own ``mem_total``; filtering each sample
    against it joins every row of the window to its host, which doubled this query
    (the longest of an evaluation). So the bounds that need no host (0..100 for CPU,
    >= 0 for memory) filter the rows, one row per host carries both means and the
    largest memory value, and only those 5,000 rows meet the host table: a host whose
    largest value fits its ``mem_total`` has only valid memory samples, so its mean is
    in_range's. The others (samples stored before /write checked them) are averaged
    again through in_range itself, in a second query made only when there are some.
    """
    window = HostSample.objects.filter(metric__in=METRICS, time__gt=since, time__lte=until, value__gte=0)
    # No memory value past the largest host's size enters an AVG: one 1e160 would overflow it
    # (PostgreSQL also sums the squares). A host whose largest value fits its own size lost none.
    largest = Subquery(Host.objects.order_by("-mem_total").values("mem_total")[:1])
    per_host = (
        window.order_by().values("host_id").annotate(
            cpu=Avg("value", filter=Q(metric=CPU, value__lte=100)),
            mem=Avg("value", filter=Q(metric=MEM, value__lte=largest)),
            mem_top=Max("value", filter=Q(metric=MEM)),
        ).values_list("host_id", "cpu", "mem", "mem_top")
    )
    inner, params = per_host.query.sql_with_params()
    # The join after the GROUP BY, which the ORM cannot write (a Subquery annotation would
    # be grouped by and run per sample row).
    sql = (f"SELECT a.host_id, a.cpu, a.mem, a.mem_top, h.mem_total FROM ({inner}) a"
           f" JOIN {Host._meta.db_table} h ON h.id = a.host_id")
    means: dict[int, dict[str, float]] = {}
    recheck: list[int] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for host_id, cpu, mem, mem_top, mem_total in cursor.fetchall():
            host: dict[str, float] = {}
            if cpu is not None:
                host[CPU] = cpu
            if mem_top is not None and not mem_top <= mem_total:  # not <=: NaN is out of range too
                recheck.append(host_id)
            elif mem is not None:
                host[MEM] = mem
            if host:
                means[host_id] = host
    if recheck:
        rows = (
            HostSample.objects.filter(host_id__in=recheck, metric=MEM, time__gt=since, time__lte=until).in_range()
            .order_by().values("host_id").annotate(mean=Avg("value")).values_list("host_id", "mean")
        )
        for host_id, mean in rows:
            means.setdefault(host_id, {})[MEM] = mean
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
    """One query: AVG(value) per epoch-aligned bucket (floor(epoch / bucket)) of samples in [start, end]."""
    rows = (
        HostSample.objects.filter(host_id=host_id, metric=metric, time__gte=start, time__lte=end)
        .in_range()
        .annotate(bucket=Floor(Epoch("time") / Value(float(bucket))))
        .values("bucket")
        .annotate(mean=Avg("value"))
        .order_by("bucket")
        .values_list("bucket", "mean")
    )
    return [(datetime.fromtimestamp(int(index) * bucket, tz=UTC), mean) for index, mean in rows]
