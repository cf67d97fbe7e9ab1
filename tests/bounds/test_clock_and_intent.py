"""The database's clock for the lease and deadlines; a start recorded before the driver is called."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.models import Event, Guest, Migration, MigrationBatch, MigrationLock
from automigrate.services import clock, evaluate, execution, lock
from tests.bounds import outside
from tests.evaluator.helpers import TwoHotHosts, tune


@pytest.fixture
def app_clock(monkeypatch):
    """Shift this host's clock (timezone.now) by some offset; the database's stays true."""

    def shift(offset: timedelta):
        real = timezone.now
        monkeypatch.setattr("django.utils.timezone.now", lambda: real() + offset)

    return shift


@pytest.mark.django_db
def test_the_lease_is_judged_by_the_database_clock_not_the_hosts(app_clock):
    holder = MigrationBatch.objects.create(rule_name="holder")
    assert lock.acquire(holder).won
    true_now = clock.db_now()
    # A worker whose clock runs two hours ahead must not think the 900 s lease long gone.
    app_clock(timedelta(hours=2))
    assert not lock.acquire(MigrationBatch.objects.create(rule_name="fast clock")).won
    assert lock.holder_batch_id() == holder.pk
    # And a worker two hours behind writes a lease that still ends 900 s after the database's now.
    app_clock(timedelta(hours=-4))
    assert lock.renew(holder.pk)
    lease = MigrationLock.objects.get().lease_expires_at
    assert abs((lease - true_now).total_seconds() - 900) < 60


@pytest.mark.django_db
def test_deadlines_are_written_and_judged_by_the_database_clock(app_clock, settings):
    app_clock(timedelta(hours=1))  # this worker's clock is an hour ahead (its samples too)
    cluster = TwoHotHosts(timezone.now())
    tune(settings, MIGRATION_TIMEOUT_BASE_SECONDS=60, MIGRATION_TIMEOUT_SECONDS_PER_GIB=30)
    evaluate.evaluate_rule(cluster.cpu_rule(), now=None)
    migration = Migration.objects.get()
    true_now = clock.db_now()
    assert abs((migration.deadline_at - true_now).total_seconds() - 90) < 30
    # With the app's clock an hour ahead, the old watcher would have timed it out at once.
    execution.watch_migrations()
    assert Migration.objects.get().state != Migration.State.TIMED_OUT


@pytest.mark.django_db
def test_the_timed_out_text_comes_from_the_stored_deadline_not_todays_settings(settings):
    cluster = TwoHotHosts(timezone.now())
    tune(settings, DRIVER="tests.evaluator.helpers.HangingDriver",
         MIGRATION_TIMEOUT_BASE_SECONDS=310, MIGRATION_TIMEOUT_SECONDS_PER_GIB=60)
    now = cluster.now
    evaluate.evaluate_rule(cluster.cpu_rule(), now=now)
    assert Migration.objects.get().deadline_at == now + timedelta(seconds=370)
    # An admin raises the timeouts while it runs: this migration keeps the limit it started with.
    tune(settings, MIGRATION_TIMEOUT_BASE_SECONDS=2000)
    assert execution.watch_migrations(now + timedelta(seconds=370)).timed_out == 1
    fail = Event.objects.get(action=Event.Action.MIGRATE_FAIL)
    assert "timed out after 370 s" in fail.summary
    assert "2040" not in fail.summary
    assert lock.holder_batch_id() is None


@pytest.mark.django_db(transaction=True)
def test_the_intent_is_recorded_before_start_and_a_crashed_start_is_never_repeated(settings):
    from tests.bounds.outside import CrashingDriver

    CrashingDriver.platform, CrashingDriver.starts, CrashingDriver.rows_seen_at_start = {}, [], []
    CrashingDriver.crash = True
    cluster = TwoHotHosts(timezone.now())
    tune(settings, DRIVER="tests.bounds.outside.CrashingDriver", DRIVER_START_TIMEOUT_SECONDS=5)
    with pytest.raises(SystemExit):  # the "process" dies between the platform's yes and our record of it
        evaluate.evaluate_rule(cluster.cpu_rule(), now=None)
    migration = Migration.objects.get()
    key = str(migration.pk)
    assert CrashingDriver.starts == [key]
    # What the database held while the driver was starting: the claimed intent, not yet confirmed.
    [(state, started_at, confirmed_at)] = CrashingDriver.rows_seen_at_start
    assert state == Migration.State.MIGRATING and started_at is not None and confirmed_at is None
    assert migration.state == Migration.State.MIGRATING and migration.start_confirmed_at is None

    # A restarted worker: it waits while the start might still be in flight elsewhere ...
    CrashingDriver.crash = False
    execution.watch_migrations(migration.started_at + timedelta(seconds=5))
    assert CrashingDriver.platform[key] == 0, "polled while a start could still be in progress"
    # ... then asks the driver by the migration's id, and adopts what it finds: never starts again.
    later = migration.started_at + timedelta(seconds=60)
    execution.watch_migrations(later)
    migration.refresh_from_db()
    assert migration.start_confirmed_at is not None
    assert Guest.objects.get(name="busy-vm").status == Guest.Status.MIGRATING
    resumed = Event.objects.get(action=Event.Action.MIGRATING)
    assert "resumed" in resumed.summary
    execution.watch_migrations(later + timedelta(seconds=5))
    assert Migration.objects.get().state == Migration.State.SUCCEEDED
    assert CrashingDriver.starts == [key]
    assert lock.holder_batch_id() is None


@pytest.mark.django_db(transaction=True)
def test_a_start_that_never_answers_is_timed_out_at_its_deadline_not_started_again(settings):
    cluster = TwoHotHosts(timezone.now())
    tune(settings, DRIVER="tests.bounds.outside.BlockingDriver",
         MIGRATION_TIMEOUT_BASE_SECONDS=60, MIGRATION_TIMEOUT_SECONDS_PER_GIB=0)
    started = time.monotonic()
    result = evaluate.evaluate_rule(cluster.cpu_rule(), now=None)
    assert time.monotonic() - started < 10
    migration = Migration.objects.get()
    assert migration.state == Migration.State.MIGRATING and migration.start_confirmed_at is None
    refused = Event.objects.get(action=Event.Action.MIGRATE_ERROR)
    assert "driver start did not answer in 1 s" in refused.summary
    assert result.batch is not None and lock.holder_batch_id() == result.batch.pk
    # Watched by its id until the deadline (polls also hang), then timed out naming the call.
    execution.watch_migrations(migration.started_at + timedelta(seconds=30))
    assert Migration.objects.get().error == "driver poll did not answer in 1 s"
    report = execution.watch_migrations(migration.started_at + timedelta(seconds=60))
    assert report.timed_out == 1 and report.batches_finished == 1
    fail = Event.objects.get(action=Event.Action.MIGRATE_FAIL)
    assert "timed out after 60 s" in fail.summary and "driver poll did not answer in 1 s" in fail.summary
    assert outside.BlockingDriver.calls.count("start") == 1
    assert lock.holder_batch_id() is None


class _SlowPrecheck(outside.BlockingDriver):
    name = "slow-precheck"

    def precheck(self, migration):
        outside.block()


@pytest.mark.django_db
def test_a_precheck_that_does_not_answer_fails_the_migration_at_once(settings, monkeypatch):
    cluster = TwoHotHosts(timezone.now())
    monkeypatch.setattr("automigrate.drivers.get_driver", lambda name=None: _SlowPrecheck())
    evaluate.evaluate_rule(cluster.cpu_rule(), now=cluster.now)
    migration = Migration.objects.get()
    # Nothing was asked of the platform yet: nothing to wait for, the migration failed and the lock is free.
    assert migration.state == Migration.State.FAILED
    assert migration.error == "driver precheck did not answer in 1 s"
    assert "start" not in outside.BlockingDriver.calls
    assert lock.holder_batch_id() is None
