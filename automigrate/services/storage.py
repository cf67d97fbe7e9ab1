"""Sample storage: how samples are written, how long each resolution is kept, and pruning.

Three resolutions, each kept as long as something needs it:

* **raw samples** (HostSample, GuestSample): as long as the longest window
  anything averages over needs (the longest rule period, the placement window,
  the dashboard's current window) plus ``RAW_SAMPLE_MARGIN_MINUTES``, and
  never pruned before they are rolled up;
* **1-minute roll-ups**: ``ROLLUP_1M_RETENTION_DAYS``;
* **5-minute roll-ups**: ``SAMPLE_RETENTION_DAYS``, the history horizon of charts
  and backtests.

Writes (``write_samples``): at most one sample per key, (host, metric, time)
or (guest, time). A key written twice keeps the **last** value (a request
that repeats a key, or a retried batch, never fails: the later write wins),
the same on PostgreSQL and SQLite. On PostgreSQL the rows go by COPY; only
when that hits an existing key do they go through a staging table and
``INSERT ... ON CONFLICT DO UPDATE``.

Pruning (``prune_samples``, the hourly task): on PostgreSQL whole partitions
are dropped (automigrate.services.partitions), on SQLite rows are deleted in
slices of ``PRUNE_SLICE_MINUTES``, each a short transaction.

When the metric source is an external store nothing is written here
(``stores_samples``): /write refuses, the simulator writes nothing and no
roll-up runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from automigrate.models import (
    GuestRollup1m,
    GuestRollup5m,
    GuestSample,
    HostRollup1m,
    HostRollup5m,
    HostSample,
    MigrationRule,
    RollupProgress,
)
from automigrate.services import bulk, partitions

log = logging.getLogger(__name__)

RAW = (HostSample, GuestSample)
ROLLUPS_1M = (HostRollup1m, GuestRollup1m)
ROLLUPS_5M = (HostRollup5m, GuestRollup5m)
ALL_TABLES = RAW + ROLLUPS_1M + ROLLUPS_5M
UNIQUE_VIOLATION = "23505"
PRUNE_SLICE_MINUTES = 10  # SQLite: old rows deleted this many minutes of data at a time


def stores_samples() -> bool:
    """Whether the metric source reads our own tables (else nothing is stored in them)."""
    from automigrate.sources import source_class

    return source_class().reads_our_tables


def current_window_seconds() -> int:
    """The dashboard's "now" window (services.series.current_window_seconds)."""
    return int(max(60, 3 * float(settings.AUTOMIGRATE["SAMPLE_INTERVAL_SECONDS"])))


def longest_window_seconds() -> int:
    """The longest window anything averages raw samples over: rule periods, placement, the dashboard."""
    longest_rule = MigrationRule.objects.aggregate(longest=Max("period_seconds"))["longest"] or 0
    if settings.AUTOMIGRATE.get("FORECAST"):
        # The forecasts read the last FORECAST_HISTORY_WINDOWS windows of raw samples (services/forecasts.py).
        longest_rule *= max(1, int(settings.AUTOMIGRATE.get("FORECAST_HISTORY_WINDOWS", 1)))
    return int(max(longest_rule, float(settings.AUTOMIGRATE["PLACEMENT_WINDOW_SECONDS"]), current_window_seconds()))


def raw_retention() -> timedelta:
    """How long raw samples are kept: the longest window plus the margin."""
    margin = float(settings.AUTOMIGRATE["RAW_SAMPLE_MARGIN_MINUTES"]) * 60
    return timedelta(seconds=longest_window_seconds() + margin)


def history_retention() -> timedelta:
    return timedelta(days=float(settings.AUTOMIGRATE["SAMPLE_RETENTION_DAYS"]))


def minute_retention() -> timedelta:
    return min(timedelta(days=float(settings.AUTOMIGRATE["ROLLUP_1M_RETENTION_DAYS"])), history_retention())


def rolled_until(model) -> datetime | None:
    """Every step of roll-up table ``model`` before this time is written (None: never rolled up)."""
    return RollupProgress.objects.filter(table=model._meta.db_table).values_list("done_until", flat=True).first()


def cutoffs(now: datetime) -> dict[type, datetime]:
    """What each table keeps: its retention, but nothing a roll-up has not yet read.

    Raw samples wait for the 1-minute roll-up, 1-minute roll-ups for the 5-minute one
    (never rolled up yet: kept for the whole history horizon), and nothing is kept past
    the horizon.
    """
    horizon = now - history_retention()

    def keep(retention: timedelta, reader) -> datetime:
        done = rolled_until(reader)
        wanted = now - retention
        return max(horizon, min(wanted, done) if done is not None else horizon)

    raw = keep(raw_retention(), HostRollup1m)
    minute = keep(minute_retention(), HostRollup5m)
    return {HostSample: raw, GuestSample: raw, HostRollup1m: minute, GuestRollup1m: minute,
            HostRollup5m: horizon, GuestRollup5m: horizon}


@dataclass
class SamplesPruned:
    partitions: list[str] = field(default_factory=list)
    rows: int = 0

    def __str__(self) -> str:
        return f"dropped {len(self.partitions)} sample partitions, deleted {self.rows} sample rows"


def prune_samples(now: datetime | None = None) -> SamplesPruned:
    """Drop (PostgreSQL) or delete (SQLite) samples and roll-ups past their retention (see module doc).

    Also deletes rows stamped further ahead than INGEST_MAX_FUTURE_SECONDS (stored before
    ingest refused them, they would never age out), and on PostgreSQL creates the next
    days' partitions.
    """
    now = now or timezone.now()
    future = now + timedelta(seconds=float(settings.AUTOMIGRATE["INGEST_MAX_FUTURE_SECONDS"]))
    result = SamplesPruned()
    for model, cutoff in cutoffs(now).items():
        if partitions.enabled():
            result.partitions += partitions.drop_before(model, cutoff)
        else:
            result.rows += _delete_in_slices(model, cutoff)
        result.rows += model.objects.filter(time__gt=future).delete()[0]
        result.partitions += partitions.drop_after(model, now + timedelta(days=partitions.DAYS_AHEAD + 1))
    if partitions.enabled() and stores_samples():
        partitions.ensure_ahead(ALL_TABLES, now)
    return result


def _delete_in_slices(model, cutoff: datetime) -> int:
    deleted = 0
    start = model.objects.order_by("time").values_list("time", flat=True).first()
    while start is not None and start < cutoff:
        end = min(start + timedelta(minutes=PRUNE_SLICE_MINUTES), cutoff)
        with transaction.atomic():
            deleted += model.objects.filter(time__lt=end).delete()[0]
        start = end
    return deleted


def _key_and_values(model, field_names: tuple[str, ...]) -> tuple[list[int], list[str]]:
    key = [field.name for field in model._meta.pk_fields]
    return [field_names.index(name) for name in key], [name for name in field_names if name not in key]


def write_samples(model, field_names: tuple[str, ...], rows: list[tuple], *, unique: bool = False) -> int:
    """Store sample or roll-up rows (tuples in ``field_names`` order); a key already stored takes the new value.

    ``unique``: the caller guarantees no key repeats within ``rows`` (the simulator's rounds),
    which saves the de-duplication pass. Returns the number of rows written.
    """
    if not rows:
        return 0
    positions, value_names = _key_and_values(model, field_names)
    if not unique:
        # The last of a repeated key wins, as it would if the rows came one request at a time.
        rows = list({tuple(row[i] for i in positions): row for row in rows}.values())
    time_at = field_names.index("time")
    times = [row[time_at] for row in rows]
    partitions.ensure(model, min(times), max(times))
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():  # a savepoint: a key conflict undoes only this COPY
                bulk.insert_rows(model, field_names, rows)
        except Exception as exc:
            # psycopg2's copy_expert raises its own UniqueViolation (SQLSTATE 23505), not Django's.
            if not (isinstance(exc, IntegrityError) or getattr(exc, "pgcode", None) == UNIQUE_VIOLATION):
                raise
            _upsert_postgresql(model, field_names, rows, positions, value_names)
        return len(rows)
    attnames = [model._meta.get_field(name).attname for name in field_names]
    model.objects.bulk_create(
        [model(**dict(zip(attnames, row, strict=True))) for row in rows],
        batch_size=2000, update_conflicts=True,
        unique_fields=[field_names[i] for i in positions], update_fields=value_names,
    )
    return len(rows)


def _upsert_postgresql(model, field_names, rows, positions, value_names) -> None:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE into the real one."""
    quote = connection.ops.quote_name
    table = model._meta.db_table
    stage = f"stage_{table}"
    columns = [model._meta.get_field(name).column for name in field_names]
    keys = ", ".join(quote(columns[i]) for i in positions)
    updates = ", ".join(
        f"{quote(model._meta.get_field(name).column)} = EXCLUDED.{quote(model._meta.get_field(name).column)}"
        for name in value_names
    )
    column_list = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(stage)} (LIKE {quote(table)})")
        cursor.execute(f"TRUNCATE {quote(stage)}")
        bulk.copy_into(cursor, stage, [model._meta.get_field(name) for name in field_names], rows)
        cursor.execute(
            f"INSERT INTO {quote(table)} ({column_list}) SELECT {column_list} FROM {quote(stage)}"
            f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )
        cursor.execute(f"TRUNCATE {quote(stage)}")
