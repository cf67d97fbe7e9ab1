"""Metrics from our own sample tables, filled by the simulator or by InfluxDB-style pushes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Case, Count, F, FloatField, Func, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Floor

from automigrate.engine.model import CPU, MEM, METRICS
from automigrate.models import Guest, GuestSample, Host, HostSample
from automigrate.sources.base import CpuHistory, MetricSource


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

    def host_cpu_history(
        self, since: datetime, until: datetime, bucket_seconds: int,
        seasonal: Sequence[tuple[datetime, datetime]] = (),
    ) -> CpuHistory:
        return host_cpu_history(since, until, bucket_seconds, seasonal)


# Bucket labels of the seasonal ranges: far below any recent bucket's (0, 1, 2, ...).
SEASON_LABEL = -1000


def host_cpu_history(
    since: datetime, until: datetime, bucket_seconds: int, seasonal: Sequence[tuple[datetime, datetime]] = ()
) -> CpuHistory:
    """One query: AVG(cpu) GROUP BY host and bucket, the seasonal ranges as buckets of their own.

    A recent sample's bucket is ``floor((until - time) / bucket)`` (0 ends at ``until``); a
    sample in the i-th seasonal range gets the label ``SEASON_LABEL - i`` instead, so every range
    is one GROUP BY of the same statement, read through the (metric, time) index.
    """
    # Raw samples hold at least the placement window plus the margin (services/storage.py); a
    # seasonal range older than that (yesterday, a week ago) is read from the 5-minute roll-ups.
    raw_from = until - timedelta(seconds=float(settings.AUTOMIGRATE["PLACEMENT_WINDOW_SECONDS"])
                                 + 60 * float(settings.AUTOMIGRATE["RAW_SAMPLE_MARGIN_MINUTES"]))
    from_rollups = {i: rng for i, rng in enumerate(seasonal) if rng[0] < raw_from}
    seasonal = [rng if i not in from_rollups else (until, until) for i, rng in enumerate(seasonal)]
    wanted = Q(time__gt=since, time__lte=until)
    for start, end in seasonal:
        wanted |= Q(time__gt=start, time__lte=end)
    seconds_before_until = Value(until.timestamp()) - Epoch("time")
    label = Case(
        *[When(Q(time__gt=start, time__lte=end), then=Value(float(SEASON_LABEL - i)))
          for i, (start, end) in enumerate(seasonal)],
        default=Floor(seconds_before_until / Value(float(bucket_seconds))),
        output_field=FloatField(),
    )
    rows = (
        HostSample.objects.filter(wanted, metric=CPU, value__gte=0, value__lte=100).order_by()
        .annotate(bucket=label).values("host_id", "bucket").annotate(total=Sum("value"), count=Count("value"))
        .values_list("host_id", "bucket", "total", "count")
    )
    sums: dict[tuple[int, int], list[float]] = {}
    for host_id, bucket, total, count in rows:
        # A sample on ``until`` itself may come out at -1: SQLite's epoch keeps milliseconds only.
        index = int(bucket) if bucket <= SEASON_LABEL else max(0, int(bucket))
        both = sums.setdefault((host_id, index), [0.0, 0])
        both[0] += total
        both[1] += count
    buckets: dict[int, dict[int, float]] = {}
    seasons: list[dict[int, float]] = [{} for _ in seasonal]
    for (host_id, index), (total, count) in sums.items():
        if index <= SEASON_LABEL:
            seasons[SEASON_LABEL - index][host_id] = total / count
        else:
            buckets.setdefault(host_id, {})[index] = total / count
    for i, means in _rollup_means(from_rollups).items():
        seasons[i] = means
    return CpuHistory(until=until, bucket_seconds=bucket_seconds, buckets=buckets, seasonal=tuple(seasons))


def _rollup_means(ranges: dict[int, tuple[datetime, datetime]]) -> dict[int, dict[int, float]]:
    """range index -> host pk -> CPU mean over the 5-minute roll-up steps starting in the range
    (weighted by their sample counts), all ranges in one query."""
    from automigrate.models import HostRollup5m

    if not ranges:
        return {}
    wanted = Q()
    for start, end in ranges.values():
        wanted |= Q(time__gte=start, time__lt=end)
    label = Case(*[When(Q(time__gte=start, time__lt=end), then=Value(i)) for i, (start, end) in ranges.items()])
    rows = (
        HostRollup5m.objects.filter(wanted, metric=CPU).order_by().annotate(season=label)
        .values("host_id", "season").annotate(total=Sum(F("mean") * F("samples")), count=Sum("samples"))
        .values_list("season", "host_id", "total", "count")
    )
    means: dict[int, dict[int, float]] = {i: {} for i in ranges}
    for season, host_id, total, count in rows:
        if count:
            means[season][host_id] = total / count
    return means


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
    """Bucket means (floor(epoch / bucket)) of samples in [start, end]: from raw samples, or from the
    1-/5-minute roll-ups for buckets of a minute or more and for ranges past the raw retention
    (automigrate.services.history)."""
    from automigrate.services import history

    return history.host_series(host_id, metric, start, end, bucket)
