"""Maintenance mode: a 20-guest host emptied under the caps and the lock; exit moves nothing back."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.models import BlackoutWindow, Event, Guest, Host, Migration, MigrationBatch
from automigrate.services import execution, lock, maintenance
from automigrate.services.placement import create_group
from tests.evaluator.helpers import GIB, RefusingDriver, write_guest_samples, write_samples


class Instant(RefusingDriver):
    """Every migration succeeds at its first poll."""

    refuse = frozenset()


def cluster(now, guests=20, spares=5, pinned=()):
    source = Host.objects.create(name="h0", cpu_count=40, mem_total=256 * GIB)
    write_samples(source, now, cpu=40.0, mem=150 * GIB)
    for i in range(spares):
        spare = Host.objects.create(name=f"spare-{i}", cpu_count=40, mem_total=256 * GIB)
        write_samples(spare, now, cpu=10.0, mem=200 * GIB)
    rows = []
    for j in range(guests):
        labels = ["pinned"] if f"vm-{j:02d}" in pinned else []
        guest = Guest.objects.create(name=f"vm-{j:02d}", host=source, vcpu_count=2, vmem_size=1024 * (1 + j % 4),
                                     labels=labels)
        write_guest_samples(guest, now, 20.0)
        rows.append(guest)
    return source, rows


def in_flight_per_host():
    pairs = Migration.objects.filter(state=Migration.State.MIGRATING).values_list("source__name", "target__name")
    return Counter(h for pair in pairs for h in pair), len(pairs)


@pytest.mark.django_db
def test_entering_maintenance_empties_a_20_guest_host_within_the_caps(use_driver):
    use_driver(Instant)
    now = timezone.now()
    source, _ = cluster(now)
    outcome = maintenance.enter_maintenance(source, "tester", now=now)
    source.refresh_from_db()
    assert source.status == Host.Status.MAINTENANCE
    batch = outcome.batch
    assert batch is not None and batch.rule_id is None and batch.rule_name == "maintenance:h0"
    assert batch.migrations.count() == 20 and outcome.left == []
    # Smallest copies are asked for first.
    sizes = [m.guest.vmem_size for m in batch.migrations.order_by("pk")]
    assert sizes == sorted(sizes)
    assert lock.holder_batch_id() == batch.pk
    step = now
    while MigrationBatch.objects.get(pk=batch.pk).finished_at is None:
        per_host, total = in_flight_per_host()
        assert total <= 4 and max(per_host.values(), default=0) <= 2
        step += timedelta(seconds=10)
        execution.watch_migrations(step)
        assert step - now < timedelta(hours=1)
    assert not Guest.objects.filter(host=source).exists()
    targets = Counter(Guest.objects.values_list("host__name", flat=True))
    assert max(targets.values()) <= 5  # MAX_MOVES_PER_HOST on every target
    assert lock.holder_batch_id() is None
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS).count() == 20

    # Exit: back in service, nothing moves back.
    maintenance.exit_maintenance(source, "tester")
    source.refresh_from_db()
    assert source.status == Host.Status.ONLINE
    assert not Guest.objects.filter(host=source).exists()
    assert Migration.objects.count() == 20
    assert Event.objects.filter(summary__contains="nothing moves back").exists()


@pytest.mark.django_db
def test_a_pinned_guest_blocks_empty_and_is_named(use_driver):
    use_driver(Instant)
    now = timezone.now()
    source, _ = cluster(now, guests=3, spares=2, pinned={"vm-01"})
    outcome = maintenance.enter_maintenance(source, now=now)
    assert [f.guest for f in outcome.left] == ["vm-01"]
    assert "labelled pinned" in outcome.left[0].notes and "blocks emptying" in outcome.left[0].notes
    assert "will not be empty" in outcome.summary
    assert Event.objects.filter(action=Event.Action.FIND_RESULT_FAIL, guest__name="vm-01",
                                summary__contains="vm-01 stays on h0").exists()
    # A pinned guest was never offered to a target: its records say so (no rejection, no reason code).
    stored = Event.objects.get(action=Event.Action.FIND_RESULT_FAIL, guest__name="vm-01").notes
    assert (stored["rejections"], stored["reason"]) == ([], "")
    assert outcome.batch.migrations.count() == 2


@pytest.mark.django_db
def test_a_busy_lock_holds_the_evacuation_but_the_host_is_in_maintenance(use_driver):
    use_driver(Instant)
    now = timezone.now()
    source, _ = cluster(now, guests=2, spares=2)
    other = MigrationBatch.objects.create(rule_name="someone-else", started_at=now)
    assert lock.acquire(other, now).won
    outcome = maintenance.enter_maintenance(source, now=now)
    source.refresh_from_db()
    assert source.status == Host.Status.MAINTENANCE
    assert outcome.batch is None and Migration.objects.count() == 0
    assert "holds the migration lock" in outcome.summary
    # Once the lock is free, entering again finishes the job.
    lock.release(other.pk)
    again = maintenance.enter_maintenance(source, now=now)
    assert again.batch is not None and again.batch.migrations.count() == 2


@pytest.mark.django_db
def test_a_blackout_holds_evacuation_unless_explicitly_passed(use_driver):
    use_driver(Instant)
    now = timezone.now()
    source, _ = cluster(now, guests=2, spares=2)
    BlackoutWindow.objects.create(name="backups", windows="daily 00:00-24:00", reason="nightly backups")
    held = maintenance.enter_maintenance(source, now=now)
    assert held.batch is None and "blackout window backups" in held.summary
    passed = maintenance.enter_maintenance(source, now=now, through_blackout=True)
    assert passed.batch is not None
    event = Event.objects.filter(notes__maintenance="evacuate", notes__through_blackout=True).get()
    assert "through the blackout" in event.summary


@pytest.mark.django_db
def test_evacuation_keeps_anti_affinity_and_a_maintenance_host_is_never_a_target(use_driver):
    use_driver(Instant)
    now = timezone.now()
    source, guests = cluster(now, guests=2, spares=3)
    other = Guest.objects.create(name="db-2", host=Host.objects.get(name="spare-0"), vcpu_count=1, vmem_size=512)
    create_group({"name": "db", "kind": "anti-affinity", "guests": [guests[0].name, other.name]})
    Host.objects.filter(name="spare-1").update(status=Host.Status.MAINTENANCE)
    outcome = maintenance.enter_maintenance(source, now=now)
    targets = {m.guest: m.target for m in outcome.plan.moves}
    assert targets[guests[0].name] == "spare-2"
    assert "spare-1" not in targets.values()


@pytest.mark.django_db
def test_repair_ends_a_violation_through_a_batch_and_does_nothing_when_none(use_driver):
    use_driver(Instant)
    now = timezone.now()
    _, guests = cluster(now, guests=3, spares=2)
    assert maintenance.repair(now=now).summary.startswith("no must placement group is violated")
    create_group({"name": "db", "kind": "anti-affinity", "guests": [g.name for g in guests]})
    outcome = maintenance.repair("tester", now=now)
    assert outcome.batch is not None and len(outcome.plan.moves) == 2
    step = now
    while MigrationBatch.objects.get(pk=outcome.batch.pk).finished_at is None:
        step += timedelta(seconds=10)
        execution.watch_migrations(step)
    assert len(set(Guest.objects.filter(name__in=[g.name for g in guests]).values_list("host", flat=True))) == 3
    assert Migration.objects.count() == 2
    assert maintenance.repair(now=step).batch is None
    assert Migration.objects.count() == 2
