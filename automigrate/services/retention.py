"""Retention of the event log and migration history: kept long, never what is still needed.

Events older than EVENT_RETENTION_DAYS and migrations older than
MIGRATION_RETENTION_DAYS (both 400 days by default; 0 keeps everything) are
deleted by the hourly prune task, except:

* anything of a batch still running (its migrations and their events);
* each rule's latest recommendation (it may still be approvable) and the
  approvals that name it (they stop a second approval);
* each rule's latest event (its fingerprint stops the evaluator repeating itself);
* migrations still named by a kept event (events never point at nothing).

Deletes go in chunks of PRUNE_CHUNK rows, each its own short transaction, so
SQLite's write lock is never held for long. This is the one place events are
deleted: the ORM refuses it everywhere else (the log is append-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from automigrate.models import Event, Migration, MigrationBatch

PRUNE_CHUNK = 5000


@dataclass(frozen=True)
class Pruned:
    events: int
    migrations: int

    def __str__(self) -> str:
        return f"pruned {self.events} events and {self.migrations} migrations past retention"


def _cutoff(setting: str, now: datetime) -> datetime | None:
    days = float(settings.AUTOMIGRATE[setting])
    return None if days <= 0 else now - timedelta(days=days)


def _chunked_delete(queryset) -> int:
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:PRUNE_CHUNK])
        if not ids:
            return deleted
        rows = queryset.model.objects.filter(pk__in=ids)
        # _raw_delete: one DELETE, no signals, no cascade collection (nothing cascades from these rows).
        deleted += rows._raw_delete(rows.db)


def _protected_events(running_batches) -> Q:
    latest_per_rule = Event.objects.values("rule_ref").annotate(last=Max("id")).values("last")
    latest_recommend = (
        Event.objects.filter(action=Event.Action.RECOMMEND).values("rule_ref").annotate(last=Max("id")).values("last")
    )
    recommendations = list(latest_recommend)
    kept_recommendations = [row["last"] for row in recommendations]
    approvals = Q(action=Event.Action.APPROVE, notes__recommendation__in=kept_recommendations)
    return (
        Q(pk__in=latest_per_rule)
        | Q(pk__in=kept_recommendations)
        | (approvals if kept_recommendations else Q(pk__in=[]))
        | Q(migration__batch__in=running_batches)
        | Q(migration__state__in=Migration.ACTIVE_STATES)
    )


def prune_history(now: datetime | None = None) -> Pruned:
    """Delete events and migrations past their retention, keeping what is still needed (see module doc)."""
    now = now or timezone.now()
    running = MigrationBatch.objects.filter(finished_at__isnull=True).values("pk")
    events = 0
    event_cutoff = _cutoff("EVENT_RETENTION_DAYS", now)
    if event_cutoff is not None:
        old = Event.objects.filter(time__lt=event_cutoff).exclude(_protected_events(running))
        events = _chunked_delete(old)
    migrations = 0
    migration_cutoff = _cutoff("MIGRATION_RETENTION_DAYS", now)
    if migration_cutoff is not None:
        old = (
            Migration.objects.filter(requested_at__lt=migration_cutoff)
            .exclude(state__in=Migration.ACTIVE_STATES)
            .exclude(batch__in=running)
            .exclude(Exists(Event.objects.filter(migration_id=OuterRef("pk"))))
        )
        migrations = _chunked_delete(old)
    return Pruned(events, migrations)
