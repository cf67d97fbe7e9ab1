"""The one global migration lock: at most one batch in flight, system-wide.

Taken with a single conditional UPDATE on the MigrationLock row (pk=1):
``SET batch = B ... WHERE batch IS NULL OR lease_expires_at < now``. The
database decides: on PostgreSQL a concurrent UPDATE waits for the row lock and
re-checks the WHERE clause after the winner commits; on SQLite writers are
serialized. The affected row count tells the caller whether it won, so there
is no check-then-write race across processes or machines. The lease bounds how
long a dead holder can keep the lock; the watcher renews it while a batch is
alive.

Every time in here is the database's (``clock.at``): the lock is shared by
machines whose own clocks may disagree, so the lease is written and judged by
the one clock they all share. An explicit ``now`` (tests, replays) is used as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from automigrate.models import MigrationBatch, MigrationLock
from automigrate.services import clock

LOCK_ID = MigrationLock.SINGLETON_ID


def lease_seconds() -> float:
    return float(settings.AUTOMIGRATE["LOCK_LEASE_SECONDS"])


@dataclass(frozen=True)
class Acquired:
    won: bool
    # The batch that held the lock before: the loser's blocker, or the expired holder the winner took over from.
    previous_batch_id: int | None = None


def acquire(batch: MigrationBatch, now: datetime | None = None) -> Acquired:
    """Try to give the lock to ``batch``; run this inside the transaction that created the batch."""
    # Without its row the UPDATE below matches nothing and every batch would look refused.
    MigrationLock.objects.get_or_create(pk=LOCK_ID)
    previous = MigrationLock.objects.filter(pk=LOCK_ID).values_list("batch_id", flat=True).first()
    won = MigrationLock.objects.filter(pk=LOCK_ID).filter(
        Q(batch__isnull=True) | Q(lease_expires_at__lt=clock.at(now))
    ).update(
        batch=batch, holder=batch.rule_name, acquired_at=clock.at(now),
        lease_expires_at=clock.at(now, lease_seconds()),
    ) == 1
    if not won:
        # Re-read: the holder may have changed between the two statements.
        previous = holder_batch_id()
    return Acquired(won=won, previous_batch_id=previous)


def renew(batch_id: int, now: datetime | None = None) -> bool:
    """Extend the lease of ``batch_id``; False if it no longer holds the lock."""
    return MigrationLock.objects.filter(pk=LOCK_ID, batch_id=batch_id).update(
        lease_expires_at=clock.at(now, lease_seconds())
    ) == 1


def release(batch_id: int) -> bool:
    """Free the lock if ``batch_id`` holds it (never someone else's); True if it did."""
    return MigrationLock.objects.filter(pk=LOCK_ID, batch_id=batch_id).update(
        batch=None, holder="", acquired_at=None, lease_expires_at=None
    ) == 1


def holder_batch_id() -> int | None:
    return MigrationLock.objects.filter(pk=LOCK_ID).values_list("batch_id", flat=True).first()


def current() -> MigrationLock:
    """The lock row with its batch (created if a database somehow lacks it)."""
    lock, _ = MigrationLock.objects.select_related("batch").get_or_create(pk=LOCK_ID)
    return lock
