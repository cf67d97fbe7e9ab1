"""Retention: old history goes, what a running batch or a standing recommendation needs stays."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration, MigrationBatch, MigrationRule
from automigrate.services import metrics, retention
from automigrate.services.events import new_event, record_events
from tests.evaluator.helpers import GIB, tune

pytestmark = pytest.mark.django_db
OLD = timedelta(days=500)


def _old_event(action, rule=None, **extra) -> Event:
    event = new_event(action, f"old {action}", rule=rule, **extra)
    event.time = timezone.now() - OLD
    return record_events([event])[0]


def _setup():
    now = timezone.now()
    host = Host.objects.create(name="h1", cpu_count=8, mem_total=64 * GIB)
    other = Host.objects.create(name="h2", cpu_count=8, mem_total=64 * GIB)
    guest = Guest.objects.create(name="g1", host=host, vcpu_count=1, vmem_size=512)
    rule = MigrationRule.objects.create(name="r", metric="cpu.usage_active", threshold=80, period_seconds=120)
    finished = MigrationBatch.objects.create(rule=rule, started_at=now - OLD, finished_at=now - OLD)
    running = MigrationBatch.objects.create(rule=rule, started_at=now - OLD)
    done = Migration.objects.create(guest=guest, source=host, target=other, batch=finished,
                                    state=Migration.State.SUCCEEDED, requested_at=now - OLD)
    stuck = Migration.objects.create(guest=guest, source=host, target=other, batch=running,
                                     state=Migration.State.FAILED, requested_at=now - OLD)
    return rule, done, stuck


def test_old_history_goes_and_what_is_still_needed_stays(settings):
    tune(settings, EVENT_RETENTION_DAYS=400, MIGRATION_RETENTION_DAYS=400)
    rule, done, stuck = _setup()
    gone = [_old_event(Event.Action.SKIP, rule), _old_event(Event.Action.RECOMMEND, rule),
            _old_event(Event.Action.MIGRATE_SUCCESS, rule, migration=done)]
    kept_recommendation = _old_event(Event.Action.RECOMMEND, rule)
    approval = _old_event(Event.Action.APPROVE, rule, notes={"recommendation": kept_recommendation.pk})
    of_running_batch = _old_event(Event.Action.MIGRATE_FAIL, rule, migration=stuck)
    gone.append(_old_event(Event.Action.NOT_TRIGGERED, rule))  # not the latest: `recent` is
    recent = record_events([new_event(Event.Action.SKIP, "recent", rule=rule)])[0]
    quiet = MigrationRule.objects.create(name="quiet", metric="cpu.usage_active", threshold=80, period_seconds=120)
    latest = _old_event(Event.Action.NOT_TRIGGERED, quiet)  # old, but the quiet rule's latest word

    pruned = retention.prune_history()

    assert pruned.events == len(gone)
    assert set(Event.objects.values_list("pk", flat=True)) == {
        kept_recommendation.pk, approval.pk, of_running_batch.pk, latest.pk, recent.pk}
    # The finished batch's migration went with its events; the running batch's stays.
    assert pruned.migrations == 1 and list(Migration.objects.values_list("pk", flat=True)) == [stuck.pk]


def test_zero_keeps_everything(settings):
    tune(settings, EVENT_RETENTION_DAYS=0, MIGRATION_RETENTION_DAYS=0)
    rule, _, _ = _setup()
    _old_event(Event.Action.SKIP, rule)
    _old_event(Event.Action.SKIP, rule)
    assert str(retention.prune_history()) == "pruned 0 events and 0 migrations past retention"
    assert Event.objects.count() == 2 and Migration.objects.count() == 2


def test_chunks_delete_every_old_row(settings, monkeypatch):
    tune(settings, EVENT_RETENTION_DAYS=1)
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 3)
    events = []
    for i in range(10):
        event = new_event(Event.Action.INVENTORY, f"e{i}")
        event.time = timezone.now() - OLD
        events.append(event)
    record_events(events)
    assert retention.prune_history().events == 9  # the newest is each "rule's" (none) latest event


def test_samples_never_rolled_up_are_kept_for_the_history_horizon(settings, make_host):
    tune(settings, SAMPLE_RETENTION_DAYS=0.5, SAMPLE_PARTITION_HOURS=1)
    host = make_host("h")
    guest = Guest.objects.create(name="g", host=host, vcpu_count=1, vmem_size=512)
    now = timezone.now() + timedelta(days=30)  # PostgreSQL: past the daily partitions the migration made
    for minutes in range(0, 24 * 60, 37):  # a day of samples, 37 minutes apart
        at = now - timedelta(minutes=minutes)
        HostSample.objects.create(host=host, metric="cpu.usage_active", time=at, value=10)
        GuestSample.objects.create(guest=guest, time=at, cpu=10)
    horizon = now - timedelta(hours=12)
    inside = set(HostSample.objects.filter(time__gte=horizon).values_list("time", flat=True))

    # No roll-up ran yet: raw samples stay for the whole horizon (SAMPLE_RETENTION_DAYS), then go:
    # row by row on SQLite, by the hour-wide partition on PostgreSQL.
    metrics.prune_samples(now)

    for model in (HostSample, GuestSample):
        kept = set(model.objects.values_list("time", flat=True))
        assert inside <= kept
        assert min(kept) >= (horizon if connection.vendor == "sqlite" else horizon.replace(minute=0, second=0,
                                                                                            microsecond=0))
