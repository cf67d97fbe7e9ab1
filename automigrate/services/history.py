"""Per-step means of host metrics and guest CPU over a time range, from raw samples or roll-ups as kept.

For backtests and charts: ask for a range and a step; the answer comes from
the coarsest resolution that is at most the step and still covers the start
of the range (raw samples, 1-minute or 5-minute roll-ups, see
services.storage for how long each is kept), or, when none at most the step
covers it, the finest one that does. The part of the range a roll-up has not
reached yet (the last minute or two) is read from the raw samples, so the
newest step is never missing.

Steps are epoch-aligned (``floor(epoch / step) * step``), each step's mean is
the mean of the raw samples in it (roll-up means are weighted by their sample
counts), and only values a metric can have count (HostSampleQuerySet.in_range;
roll-ups hold only those). A roll-up row belongs to the step its start falls
in, so with a step that is no multiple of the roll-up's, a step's mean is off
by at most one roll-up row at each edge.

Interface (stable; the backtest reads history only through it)::

    history.host_means(start, end, step_seconds, host_ids=None, metrics=(CPU, MEM)) -> History
    history.guest_means(start, end, step_seconds, guest_ids=None) -> History
    history.guest_step_means(start, end, step_seconds, guest_ids=None)
        -> (resolution, {(guest_id, epoch // step): mean}): guest_means without datetimes, for the backtest
    history.guest_resolution(start) -> "raw", "1m" or "5m": the finest guest history kept from start on
    # History.series: {(host_id, metric) or guest_id: [(step start, mean), ...]}, oldest first;
    # History.resolution: "raw", "1m" or "5m", what the oldest part of the range came from.

Only our own tables: with an external metric source there is nothing here
(services.metrics.host_series asks the store for charts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, F, FloatField, Sum, Value
from django.db.models.functions import Floor
from django.utils import timezone

from automigrate.engine.model import METRICS
from automigrate.models import (
    GuestRollup1m,
    GuestRollup5m,
    GuestSample,
    HostRollup1m,
    HostRollup5m,
    HostSample,
    RollupProgress,
)
from automigrate.services import storage
from automigrate.sources.database import Epoch
from automigrate.units import format_period

RAW, MINUTE, FIVE_MINUTES = "raw", "1m", "5m"
# A resolution's step: a caller's step should be at least this (and a multiple of it), or some
# of its steps get no row at all.
RESOLUTION_SECONDS = {RAW: 0, MINUTE: 60, FIVE_MINUTES: 300}
RESOLUTION_NAMES = {RAW: "raw samples", MINUTE: "1-minute roll-ups", FIVE_MINUTES: "5-minute roll-ups"}


@dataclass
class History:
    start: datetime
    end: datetime
    step_seconds: int
    resolution: str
    series: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Option:
    name: str
    step: int
    model: type
    kept_from: datetime
    done: datetime | None  # roll-ups: complete before this (None: never rolled up)


def _options(raw, minute, five, now: datetime) -> list[_Option]:
    done = dict(RollupProgress.objects.filter(
        table__in=[minute._meta.db_table, five._meta.db_table]).values_list("table", "done_until"))
    return [
        _Option(RAW, 0, raw, now - storage.raw_retention(), None),
        _Option(MINUTE, 60, minute, now - storage.minute_retention(), done.get(minute._meta.db_table)),
        _Option(FIVE_MINUTES, 300, five, now - storage.history_retention(), done.get(five._meta.db_table)),
    ]


def _choose(options: list[_Option], start: datetime, step: int) -> _Option:
    available = [o for o in options if o.name == RAW or (o.done is not None and o.done > start)]
    covering = [o for o in available if start >= o.kept_from]
    fitting = [o for o in covering if o.step <= step]
    if fitting:
        return fitting[-1]
    return covering[0] if covering else available[-1]


def _bucket(step: int):
    return Floor(Epoch("time") / Value(float(step)))


def _sums(queryset, keys: tuple[str, ...], step: int, value: str | None) -> list[tuple]:
    """(key..., bucket, sum, count) rows: sums of raw ``value``s, or (None) of roll-up means times their counts."""
    total = Sum(F("mean") * F("samples"), output_field=FloatField()) if value is None else Sum(value)
    count = Sum("samples") if value is None else Count("*")
    rows = (queryset.annotate(bucket=_bucket(step)).values(*keys, "bucket").order_by()
            .annotate(total=total, n=count).values_list(*keys, "bucket", "total", "n"))
    # The ORM's SQL on a plain cursor: its per-row converters cost more than the query at a
    # backtest's hundreds of thousands of rows (the values are plain numbers either way).
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _step_sums(kind: str, start: datetime, end: datetime, step: int, ids, metrics, now,
               inclusive_end=False) -> tuple[str, dict]:
    """(resolution, {(key, epoch // step): [sum, count]}): what _read and guest_step_means build on."""
    hosts = kind == "host"
    raw, minute, five = (HostSample, HostRollup1m, HostRollup5m) if hosts else (GuestSample, GuestRollup1m,
                                                                                 GuestRollup5m)
    keys = ("host_id", "metric") if hosts else ("guest_id",)
    choice = _choose(_options(raw, minute, five, now), start, step)

    def scoped(queryset):
        if ids is not None:
            queryset = queryset.filter(**{f"{keys[0]}__in": list(ids)})
        if hosts:
            queryset = queryset.filter(metric__in=list(metrics))
        return queryset

    end_filter = {"time__lte": end} if inclusive_end else {"time__lt": end}
    rows: list[tuple] = []
    raw_from = start
    if choice.name != RAW:
        rolled_end = min(end, choice.done)
        rows += _sums(scoped(choice.model.objects.filter(time__gte=start, time__lt=rolled_end)), keys, step, None)
        raw_from = rolled_end
    if raw_from < end or (inclusive_end and raw_from <= end):
        samples = raw.objects.filter(time__gte=raw_from, **end_filter).in_range()
        rows += _sums(scoped(samples), keys, step, "value" if hosts else "cpu")
    sums: dict = defaultdict(lambda: [0.0, 0])
    for *key, bucket, total, n in rows:
        if n:
            cell = sums[(tuple(key) if hosts else key[0], int(bucket))]
            cell[0] += total
            cell[1] += n
    return choice.name, sums


def _read(kind: str, start: datetime, end: datetime, step: int, ids, metrics, now, inclusive_end=False) -> History:
    resolution, sums = _step_sums(kind, start, end, step, ids, metrics, now, inclusive_end)
    series: dict = defaultdict(list)
    for (key, bucket), (total, n) in sorted(sums.items(), key=lambda item: item[0][1]):
        series[key].append((datetime.fromtimestamp(bucket * step, tz=UTC), total / n))
    return History(start, end, step, resolution, dict(series))


def host_means(
    start: datetime, end: datetime, step_seconds: int, host_ids: Collection[int] | None = None,
    metrics: Collection[str] = METRICS, now: datetime | None = None,
) -> History:
    """Per-step means of host metrics over [start, end): series keyed (host_id, metric)."""
    return _read("host", start, end, int(step_seconds), host_ids, metrics, now or timezone.now())


def guest_means(
    start: datetime, end: datetime, step_seconds: int, guest_ids: Collection[int] | None = None,
    now: datetime | None = None,
) -> History:
    """Per-step mean CPU of guests over [start, end): series keyed guest_id."""
    return _read("guest", start, end, int(step_seconds), guest_ids, (), now or timezone.now())


def guest_step_means(
    start: datetime, end: datetime, step_seconds: int, guest_ids: Collection[int] | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[tuple[int, int], float]]:
    """guest_means' answer as (resolution, {(guest_id, epoch // step): mean}), unsorted.

    For the backtest, which reads millions of guest-steps: no datetime per step, no sorting.
    """
    step = int(step_seconds)
    resolution, sums = _step_sums("guest", start, end, step, guest_ids, (), now or timezone.now())
    return resolution, {key: total / n for key, (total, n) in sums.items()}


def guest_resolution(start: datetime, now: datetime | None = None) -> str:
    """The finest resolution guest_means reads from ``start`` on (what it picks for the finest step)."""
    now = now or timezone.now()
    return _choose(_options(GuestSample, GuestRollup1m, GuestRollup5m, now), start, 0).name


def retentions() -> str:
    """How long each resolution is kept, for notes: 'raw samples 35m, 1-minute roll-ups 2d, ...'."""
    kept = (storage.raw_retention(), storage.minute_retention(), storage.history_retention())
    return ", ".join(f"{RESOLUTION_NAMES[name]} {format_period(int(span.total_seconds()))}"
                     for name, span in zip((RAW, MINUTE, FIVE_MINUTES), kept, strict=True))


def host_series(host_id: int, metric: str, start: datetime, end: datetime, bucket: int) -> list[tuple[datetime, float]]:
    """One host's metric as (bucket start, mean) over [start, end], for charts (DatabaseSource.host_series)."""
    history = _read("host", start, end, int(bucket), [host_id], [metric], timezone.now(), inclusive_end=True)
    return history.series.get((host_id, metric), [])


def step_for(span: timedelta, points: int) -> int:
    """A step giving at most ``points`` steps over ``span`` (a convenience for callers)."""
    return max(1, -(-int(span.total_seconds()) // max(1, points)))
