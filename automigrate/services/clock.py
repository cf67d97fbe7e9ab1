"""The database's clock: the one clock every machine sharing the lock agrees on.

The migration lock and the migrations' deadlines hold across processes and
machines, so "has the lease run out", "is this migration past its deadline"
are judged by the database's time, never by the web or worker host's (whose
clocks may drift apart). Callers may still pass an explicit ``now`` (replays,
tests, one pass of the watcher that wants one consistent instant); ``None``
means "the database's now".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import DateTimeField, Expression, ExpressionWrapper, Value
from django.db.models.functions import Now


def db_now() -> datetime:
    """The database server's current time (one round trip), timezone-aware."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')")
            return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)
        # statement_timestamp(), not now(): now() is frozen at the start of the transaction.
        cursor.execute("SELECT statement_timestamp()")
        value = cursor.fetchone()[0]
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def at(now: datetime | None, plus_seconds: float = 0.0) -> Expression:
    """An SQL expression for ``now`` (+ seconds): the database's clock when ``now`` is None."""
    base = Value(now, output_field=DateTimeField()) if now is not None else Now()  # STATEMENT_TIMESTAMP() on PostgreSQL
    if not plus_seconds:
        return base
    return ExpressionWrapper(base + Value(timedelta(seconds=plus_seconds)), output_field=DateTimeField())

