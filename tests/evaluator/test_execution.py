"""Executing batches: timeouts, refused starts, caps, and resuming after a worker restart."""

import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from automigrate.engine.model import CPU
from automigrate.models import Event, Guest, Host, Migration, MigrationBatch, MigrationRule
from automigrate.services import evaluate, execution, lock
from automigrate.services.rules import create_rule
from tests.evaluator.helpers import GIB, HangingDriver, RefusingDriver, tune, write_guest_samples, write_samples


def cluster_with_three_movers(now, vmem=(1024, 2048, 4096)):
    """One 40-core host at 99 % with three 8-vCPU guests at 100 % (20 points each): all three must move."""
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * GIB)
    guests = [Guest.objects.create(name=f"g{i}", host=hot, vcpu_count=8, vmem_size=mb) for i, mb in enumerate(vmem)]
    write_samples(hot, now, cpu=99.0, mem=200 * GIB)
    for guest in guests:
        write_guest_samples(guest, now, 100.0)
    for i in range(3):
        spare = Host.objects.create(name=f"spare-{i}", cpu_count=64, mem_total=512 * GIB)
        write_samples(spare, now, cpu=5.0, mem=400 * GIB)
    rule = create_rule({"name": "cpu", "metric": CPU, "threshold": 60, "period": "2m"})
    return rule


def events(action):
    return list(Event.objects.filter(action=action).order_by("id"))


@pytest.mark.django_db
def test_a_hanging_driver_times_out_with_migrate_fail_and_frees_the_lock(two_hot_hosts, use_driver, settings):
    use_driver(HangingDriver)
    tune(settings, MIGRATION_TIMEOUT_BASE_SECONDS=60, MIGRATION_TIMEOUT_SECONDS_PER_GIB=30)
    now = two_hot_hosts.now
    result = evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)
    migration = Migration.objects.get()
    # 1 GiB guest: 60 s + 30 s per GiB.
    assert migration.deadline_at == now + timedelta(seconds=90)

    execution.watch_migrations(now + timedelta(seconds=89))
    assert Migration.objects.get().state == Migration.State.MIGRATING
    assert lock.holder_batch_id() == result.batch.pk

    execution.watch_migrations(now + timedelta(seconds=90))
    migration.refresh_from_db()
    assert migration.state == Migration.State.TIMED_OUT
    # The cancel runs in the background (the watcher never waits for it): give its thread a moment.
    for _ in range(50):
        if migration.pk in HangingDriver.cancelled:
            break
        time.sleep(0.05)
    assert migration.pk in HangingDriver.cancelled
    fail = events(Event.Action.MIGRATE_FAIL)[0]
    assert "timed out after 90 s" in fail.notes["error"]
    assert fail.notes["guest"]["name"] == "busy-vm"
    assert lock.holder_batch_id() is None
    guest = Guest.objects.get(name="busy-vm")
    assert (guest.status, guest.host.name) == (Guest.Status.RUNNING, "hot-cpu")
    assert MigrationBatch.objects.get().state == MigrationBatch.State.FINISHED


@pytest.mark.django_db
def test_a_refused_start_records_migrate_error_and_abandons_the_rest(use_driver):
    now = timezone.now()
    rule = cluster_with_three_movers(now)
    RefusingDriver.refuse = frozenset({"g1"})
    use_driver(RefusingDriver)

    result = evaluate.evaluate_rule(rule, now=now)

    states = dict(Migration.objects.values_list("guest__name", "state"))
    assert len(states) == 3, "the plan moves all three guests"
    started_first = Migration.objects.order_by("pk").first().guest.name
    assert states[started_first] == Migration.State.MIGRATING
    refused = Migration.objects.get(guest__name="g1")
    assert refused.state == Migration.State.FAILED
    others = Migration.objects.exclude(guest__name__in=["g1", started_first])
    assert all(m.state == Migration.State.CANCELLED for m in others)
    error = events(Event.Action.MIGRATE_ERROR)
    assert len(error) == 1 and "refused g1" in error[0].notes["error"]
    assert "abandoned" in error[0].summary
    assert result.batch.pk == lock.holder_batch_id(), "the lock stays while a migration is still in flight"

    execution.watch_migrations(now + timedelta(seconds=10))
    assert lock.holder_batch_id() is None
    assert MigrationBatch.objects.get().state == MigrationBatch.State.ABORTED
    assert len(events(Event.Action.MIGRATE_SUCCESS)) == 1
    assert len(events(Event.Action.MIGRATING)) == 1


@pytest.mark.django_db
def test_caps_hold_the_rest_of_a_batch_until_a_slot_frees(settings):
    tune(settings, MAX_IN_FLIGHT=1)
    now = timezone.now()
    rule = cluster_with_three_movers(now)
    evaluate.evaluate_rule(rule, now=now)
    assert Migration.objects.filter(state=Migration.State.MIGRATING).count() == 1
    assert Migration.objects.filter(state=Migration.State.PENDING).count() == 2

    t = now
    for _ in range(10):
        t += timedelta(seconds=11)
        execution.watch_migrations(t)
        assert Migration.objects.filter(state=Migration.State.MIGRATING).count() <= 1
    assert set(Migration.objects.values_list("state", flat=True)) == {Migration.State.SUCCEEDED}
    assert lock.holder_batch_id() is None
    assert MigrationRule.objects.get(pk=rule.pk).last_batch_finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_restarted_worker_resumes_every_in_flight_migration_from_the_database(settings):
    tune(settings, MAX_IN_FLIGHT=2, LOCK_LEASE_SECONDS=60)
    now = timezone.now()
    rule = cluster_with_three_movers(now, vmem=(8192, 8192, 8192))
    evaluate.evaluate_rule(rule, now=now)
    assert Migration.objects.filter(state=Migration.State.MIGRATING).count() == 2
    # The worker dies: no Python state survives, only the database. It comes back after its
    # lease ran out (nobody else wanted the lock meanwhile).
    connections.close_all()
    later = now + timedelta(seconds=120)
    assert execution.watch_migrations(later).succeeded == 2, "8 GiB at 400 MB/s takes 20.5 s"
    assert lock.holder_batch_id() is not None, "the resumed batch renews its lease and keeps the lock"
    assert Migration.objects.filter(state=Migration.State.MIGRATING).count() == 1

    execution.watch_migrations(later + timedelta(seconds=30))
    assert set(Migration.objects.values_list("state", flat=True)) == {Migration.State.SUCCEEDED}
    assert set(Guest.objects.values_list("host__name", flat=True)) <= {"spare-0", "spare-1", "spare-2"}
    assert lock.holder_batch_id() is None


@pytest.mark.django_db
def test_the_timeout_grows_with_the_guests_memory(settings):
    tune(settings, MAX_IN_FLIGHT_PER_HOST=3)
    now = timezone.now()
    rule = cluster_with_three_movers(now, vmem=(1024, 16384, 4096))
    evaluate.evaluate_rule(rule, now=now)
    deadlines = {m.guest.vmem_size: (m.deadline_at - now).total_seconds() for m in Migration.objects.all()}
    assert deadlines == {1024: 180, 4096: 360, 16384: 1080}


@pytest.mark.django_db
def test_a_successful_migration_moves_the_guest_and_records_the_reference_notes(two_hot_hosts):
    now = two_hot_hosts.now
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)
    execution.watch_migrations(now + timedelta(seconds=6))
    guest = Guest.objects.get(name="busy-vm")
    assert guest.host.name in ("spare-1", "spare-2")
    assert guest.last_migrated_from.name == "hot-cpu"
    assert guest.last_migrated_at == now + timedelta(seconds=6)
    migrating, success = events(Event.Action.MIGRATING)[0], events(Event.Action.MIGRATE_SUCCESS)[0]
    for event in (migrating, success):
        assert event.notes["guest"] == {
            "id": guest.pk, "name": "busy-vm", "host_id": two_hot_hosts.hot_cpu.pk, "host": "hot-cpu",
            "vcpu_count": 24, "vmem_size": 1024, "score": pytest.approx(60.0),
        }
        assert event.notes["target_host"]["name"] == guest.host.name
        assert event.notes["target_host"]["score"] == pytest.approx(5.0)
        assert event.user == "system"
    assert success.target_host == guest.host



@pytest.mark.django_db
def test_the_simulator_driver_refuses_to_move_guests_of_a_real_cluster(settings):
    tune(settings, METRIC_SOURCE="database")
    now = timezone.now()
    rule = cluster_with_three_movers(now)

    evaluate.evaluate_rule(rule, now=now)

    assert not Migration.objects.filter(state__in=[Migration.State.MIGRATING, Migration.State.SUCCEEDED]).exists()
    error = events(Event.Action.MIGRATE_ERROR)
    assert len(error) == 1 and "only moves the simulated cluster's guests" in error[0].notes["error"]
    assert lock.holder_batch_id() is None, "an aborted batch with nothing in flight frees the lock at once"
    assert MigrationBatch.objects.get().state == MigrationBatch.State.ABORTED
    assert not Guest.objects.filter(last_migrated_at__isnull=False).exists()
