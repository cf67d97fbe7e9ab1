"""1-minute and 5-minute roll-ups of the samples: mean, max and count per host metric and per guest.

Run every minute by beat (``automigrate.tasks.roll_up_samples``). Each run
continues where the last stopped (RollupProgress, one row per table): it
rolls up every whole step older than ``ROLLUP_DELAY_SECONDS`` (so telegraf's
late flushes are in it), at most ``ROLLUP_MAX_MINUTES_PER_RUN`` minutes per
statement, and starts no new statement after ``ROLLUP_TIME_BUDGET_SECONDS``:
after downtime it catches up over several runs instead of one long one. Each
statement is one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``,
so running a step twice writes the same rows (idempotent).

1-minute rows come from the raw samples, only values the metric can have
(HostSampleQuerySet.in_range); 5-minute rows from the 1-minute rows, each mean
weighted by its count, so a 5-minute mean is the mean of its raw samples.

A sample arriving after its minute was rolled up stays in the raw table (and
counts in window means) but not in the roll-up. Nothing runs when the metric
source is an external store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import (
    GuestRollup1m,
    GuestRollup5m,
    GuestSample,
    HostRollup1m,
    HostRollup5m,
    HostSample,
    RollupProgress,
)
from automigrate.services import partitions, storage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class RolledUp:
    # table -> (from, to) rolled up this run
    ranges: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    skipped: str = ""

    def __str__(self) -> str:
        if self.skipped:
            return self.skipped
        if not self.ranges:
            return "nothing to roll up yet"
        return "; ".join(f"{table} {lo:%H:%M}-{hi:%H:%M}" for table, (lo, hi) in self.ranges.items())


def floor(value: datetime, step: int) -> datetime:
    return EPOCH + timedelta(seconds=step * (int((value - EPOCH).total_seconds()) // step))


def _bucket_sql(column: str, step: int) -> str:
    """The start of the step a timestamp column falls in, as the column's own type."""
    if connection.vendor == "postgresql":
        return f"to_timestamp(floor(extract(epoch from {column}) / {step}) * {step})"
    # SQLite stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) text; the result has the same shape.
    # '%%s': the statement has parameters, so a literal % is doubled.
    return f"datetime((CAST(strftime('%%s', {column}) AS INTEGER) / {step}) * {step}, 'unixepoch')"


def _param(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _host_from_raw(start: datetime, end: datetime) -> tuple[str, list]:
    raw, host = HostSample._meta.db_table, "automigrate_host"
    bucket = _bucket_sql("s.time", 60)
    sql = (
        f"SELECT s.host_id, s.metric, {bucket}, AVG(s.value), MAX(s.value), COUNT(*) FROM {raw} s"
        f" JOIN {host} h ON h.id = s.host_id"
        " WHERE s.time >= %s AND s.time < %s AND ("
        "(s.metric = %s AND s.value >= 0 AND s.value <= 100)"
        " OR (s.metric = %s AND s.value >= 0 AND s.value <= h.mem_total))"
        f" GROUP BY s.host_id, s.metric, {bucket}"
    )
    return sql, [_param(start), _param(end), CPU, MEM]


def _guest_from_raw(start: datetime, end: datetime) -> tuple[str, list]:
    bucket = _bucket_sql("time", 60)
    sql = (
        f"SELECT guest_id, {bucket}, AVG(cpu), MAX(cpu), COUNT(*) FROM {GuestSample._meta.db_table}"
        f" WHERE time >= %s AND time < %s AND cpu >= 0 AND cpu <= 100 GROUP BY guest_id, {bucket}"
    )
    return sql, [_param(start), _param(end)]


def _from_minutes(model, step: int, key: str):
    def select(start: datetime, end: datetime) -> tuple[str, list]:
        bucket = _bucket_sql("time", step)
        sql = (
            f"SELECT {key}, {bucket}, SUM(mean * samples) / SUM(samples), MAX(max), SUM(samples)"
            f" FROM {model._meta.db_table} WHERE time >= %s AND time < %s GROUP BY {key}, {bucket}"
        )
        return sql, [_param(start), _param(end)]

    return select


HOST_KEY, GUEST_KEY = ("host_id", "metric", "time"), ("guest_id", "time")
# (target, step, source it reads, SELECT builder, key columns) in the order they must run.
PLAN = (
    (HostRollup1m, 60, HostSample, _host_from_raw, HOST_KEY),
    (GuestRollup1m, 60, GuestSample, _guest_from_raw, GUEST_KEY),
    (HostRollup5m, 300, HostRollup1m, _from_minutes(HostRollup1m, 300, "host_id, metric"), HOST_KEY),
    (GuestRollup5m, 300, GuestRollup1m, _from_minutes(GuestRollup1m, 300, "guest_id"), GUEST_KEY),
)


def _oldest(model) -> datetime | None:
    """Where a table's data begins: its oldest partition (PostgreSQL: no scan) or its oldest row."""
    if partitions.enabled():
        found = partitions.partitions(model._meta.db_table)
        return found[0].start if found else None
    return model.objects.order_by("time").values_list("time", flat=True).first()


def _start(target, step: int, source, now: datetime) -> datetime | None:
    done = storage.rolled_until(target)
    if done is not None:
        return done
    oldest = _oldest(source)
    if oldest is None:
        return None
    return floor(max(oldest, now - storage.history_retention()), step)


def roll_up(now: datetime | None = None) -> RolledUp:
    """Roll up every whole step not yet rolled up (see module doc); returns what was done."""
    if not storage.stores_samples():
        return RolledUp(skipped="metric source is an external store: nothing stored, nothing to roll up")
    now = now or timezone.now()
    conf = settings.AUTOMIGRATE
    ready = now - timedelta(seconds=float(conf["ROLLUP_DELAY_SECONDS"]))
    chunk = timedelta(minutes=max(5, float(conf["ROLLUP_MAX_MINUTES_PER_RUN"])))
    deadline = time.monotonic() + float(conf["ROLLUP_TIME_BUDGET_SECONDS"])
    result = RolledUp()
    limits: dict[type, datetime] = {}
    for target, step, source, select, keys in PLAN:
        # A 5-minute step needs its five 1-minute rows first.
        until = floor(min(ready, limits.get(source, ready)), step)
        start = _start(target, step, source, now)
        if start is None:
            limits[target] = storage.rolled_until(target) or until
            continue
        begin = start
        while start < until and time.monotonic() < deadline:
            end = min(until, floor(start + chunk, step))  # chunk >= 5 min: past start
            _write(target, keys, select, start, end)
            start = end
        limits[target] = start
        if start > begin:
            result.ranges[target._meta.db_table] = (begin, start)
    return result


def _write(target, keys: tuple[str, ...], select, start: datetime, end: datetime) -> None:
    table = target._meta.db_table
    columns = (*keys, "mean", "max", "samples")
    sql, params = select(start, end)
    conflict = ", ".join(keys)
    with transaction.atomic():
        partitions.ensure(target, start, end - timedelta(microseconds=1))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) {sql} ON CONFLICT ({conflict}) DO UPDATE SET"
                " mean = EXCLUDED.mean, max = EXCLUDED.max, samples = EXCLUDED.samples",
                params,
            )
        RollupProgress.objects.update_or_create(table=table, defaults={"done_until": end})
