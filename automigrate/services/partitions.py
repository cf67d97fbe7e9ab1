"""PostgreSQL range partitions of the sample and roll-up tables: created ahead, dropped whole.

Each table (migration 0012) is ``PARTITION BY RANGE (time)``. Raw samples go
into partitions of ``SAMPLE_PARTITION_HOURS`` (a day by default), roll-ups into
daily ones, all aligned on UTC midnight. The hourly prune task creates the
next ``DAYS_AHEAD`` days of partitions and drops those wholly older than the
table's retention: a DROP TABLE of a partition frees its files at once, where
a DELETE of a day of samples took minutes and left the table to VACUUM.

Every write path also makes sure its rows have a partition (``ensure``), so a
sample is never refused for want of one (after downtime, or an old timestamp
in a test). A partition is found by its bounds in the catalog, never by its
name: changing the partition width only changes the partitions made next.

On other databases every function here does nothing: the tables are plain.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

DAYS_AHEAD = 3
# A DROP waits for the table's lock behind running queries; past this it gives up until the next run.
DROP_LOCK_TIMEOUT_MS = 5000
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def enabled() -> bool:
    return connection.vendor == "postgresql"


def span(model) -> timedelta:
    """The width of a new partition of ``model``'s table."""
    from automigrate.models import GuestSample, HostSample

    if model in (HostSample, GuestSample):
        return timedelta(hours=float(settings.AUTOMIGRATE["SAMPLE_PARTITION_HOURS"]))
    return timedelta(days=1)


def _parse(text: str) -> datetime:
    # The catalog prints bounds in the session's time zone (UTC under Django), e.g. '2026-12-02 00:00:00+00'.
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def partitions(table: str) -> list[Partition]:
    """The partitions of ``table``, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound or "")
        if match:
            found.append(Partition(name, _parse(match.group(1)), _parse(match.group(2))))
    return sorted(found, key=lambda p: p.start)


def _floor(value: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + width * ((value - epoch) // width)


def _name(table: str, start: datetime) -> str:
    start = start.astimezone(UTC)
    suffix = f"{start:%Y%m%d}" if start.time() == datetime.min.time() else f"{start:%Y%m%d_%H%M%S}"
    return f"{table}_p{suffix}"


def _missing(existing: list[Partition], start: datetime, end: datetime, width: timedelta) -> list[tuple]:
    """The (start, end) slots of width ``width`` covering [start, end) that no existing partition covers."""
    slots = []
    slot = _floor(start, width)
    while slot < end:
        lo, hi = slot, slot + width
        for part in existing:  # clip to the neighbours (a width changed since they were made)
            if part.start <= lo < part.end:
                lo = part.end
            if lo < part.start < hi:
                hi = part.start
        if lo < hi:
            slots.append((lo, hi))
        slot += width
    return slots


def ensure(model, oldest: datetime, newest: datetime) -> list[str]:
    """Create what ``model``'s table lacks of partitions for [oldest, newest]; returns their names."""
    if not enabled():
        return []
    table = model._meta.db_table
    existing = partitions(table)
    created = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for lo, hi in _missing(existing, oldest, newest + timedelta(microseconds=1), span(model)):
            name = _name(table, lo)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {quote(name)} PARTITION OF {quote(table)}"
                " FOR VALUES FROM (%s) TO (%s)",
                [lo, hi],
            )
            created.append(name)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def ensure_ahead(models, now: datetime, days: int = DAYS_AHEAD) -> list[str]:
    """Partitions from now to ``days`` ahead for each table (the prune task's job)."""
    created = []
    for model in models:
        created += ensure(model, now, now + timedelta(days=days))
    return created


def drop_before(model, cutoff: datetime) -> list[str]:
    """DROP the partitions of ``model``'s table that end at or before ``cutoff``; returns their names.

    Each DROP is its own short transaction with a lock timeout: one waiting behind a long
    query is skipped (and logged) until the next run instead of stalling every reader.
    """
    if not enabled():
        return []
    dropped = []
    quote = connection.ops.quote_name
    for part in partitions(model._meta.db_table):
        if part.end > cutoff:
            break
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {int(DROP_LOCK_TIMEOUT_MS)}")
                cursor.execute(f"DROP TABLE IF EXISTS {quote(part.name)}")
        except DatabaseError as exc:
            log.warning("partition %s not dropped this time: %s", part.name, str(exc).splitlines()[0])
            break
        dropped.append(part.name)
    return dropped


def drop_after(model, limit: datetime) -> list[str]:
    """DROP the partitions of ``model``'s table that start after ``limit``.

    Only a row stamped far ahead (a wrong clock; pruned as such) makes one, and nothing
    else would drop it before its time comes.
    """
    if not enabled():
        return []
    dropped = []
    quote = connection.ops.quote_name
    for part in partitions(model._meta.db_table):
        if part.start > limit:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {quote(part.name)}")
            dropped.append(part.name)
    return dropped
