"""Approvals under the lock, atomic state changes, lease takeovers, settings checks, event de-duplication."""

import threading
from datetime import timedelta

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from automigrate.models import Event, Guest, Host, Migration, MigrationBatch, MigrationLock, MigrationRule
from automigrate.services import evaluate, execution, lock, schedule
from automigrate.services.lock import Acquired
from tests.evaluator.helpers import GIB, RefusingDriver, TwoHotHosts, tune, write_guest_samples, write_samples


def approvals():
    return Event.objects.filter(action=Event.Action.APPROVE)


def recommend(cluster):
    rule = cluster.cpu_rule(mode="recommend")
    evaluate.evaluate_rule(rule, now=cluster.now)
    return rule, Event.objects.get(action=Event.Action.RECOMMEND)


# --- approving a recommendation ------------------------------------------------


@pytest.mark.django_db
def test_it_leaves_a_recommendation_approvable_when_the_lock_is_busy(two_hot_hosts, staff):
    now = two_hot_hosts.now
    _, recommendation = recommend(two_hot_hosts)
    holder = evaluate.evaluate_rule(two_hot_hosts.mem_rule(), now=now).batch
    events_before = Event.objects.count()

    with pytest.raises(evaluate.ApprovalError) as refused:
        evaluate.approve_recommendation(recommendation, staff, now=now + timedelta(seconds=1))

    assert str(refused.value) == (
        f"recommendation #{recommendation.pk} not approved: batch #{holder.pk} of rule mem-rule holds the"
        " migration lock; try again when it finishes"
    )
    assert Event.objects.count() == events_before, "a refused approval writes nothing"
    assert not Migration.objects.filter(guest__name="busy-vm").exists()

    execution.watch_migrations(now + timedelta(seconds=60))  # 16 GiB at 400 MB/s: the mem batch ends
    assert lock.holder_batch_id() is None
    approved = evaluate.approve_recommendation(recommendation, staff, now=now + timedelta(seconds=61))
    assert approved.result == evaluate.MIGRATING
    assert approvals().get().notes["batch"] == approved.batch.pk


@pytest.mark.django_db
def test_it_checks_for_an_earlier_approval_again_under_the_lock(two_hot_hosts, staff, use_driver, monkeypatch):
    # The first approval's batch is refused by the driver: busy-vm stays put, so
    # the second approval's moves are still valid and only the approve event stops it.
    RefusingDriver.refuse = frozenset({"busy-vm"})
    use_driver(RefusingDriver)
    _, recommendation = recommend(two_hot_hosts)
    real_still_planned = evaluate._still_planned
    calls = []

    def another_approval_meanwhile(*args, **kwargs):
        planned = real_still_planned(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            # Passed the first "already approved?" check; another operator approves now, to the end.
            evaluate.approve_recommendation(recommendation, staff, now=two_hot_hosts.now)
        return planned

    monkeypatch.setattr(evaluate, "_still_planned", another_approval_meanwhile)

    with pytest.raises(evaluate.ApprovalError, match="already approved"):
        evaluate.approve_recommendation(recommendation, staff, now=two_hot_hosts.now)

    assert approvals().count() == 1
    assert MigrationBatch.objects.count() == 1, "the second batch was rolled back with its lock"
    assert lock.holder_batch_id() is None


@pytest.mark.django_db(transaction=True)
def test_it_runs_one_of_two_simultaneous_approvals(staff, monkeypatch):
    cluster = TwoHotHosts(timezone.now())
    _, recommendation = recommend(cluster)
    barrier = threading.Barrier(2, timeout=30)
    real_start_batch = execution.start_batch

    def start_batch_together(*args, **kwargs):
        barrier.wait()
        return real_start_batch(*args, **kwargs)

    monkeypatch.setattr(execution, "start_batch", start_batch_together)
    outcomes, errors = [], []

    def approve():
        try:
            outcomes.append(evaluate.approve_recommendation(recommendation, staff).result)
        except evaluate.ApprovalError as exc:
            outcomes.append(str(exc))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert evaluate.MIGRATING in outcomes
    # The loser is refused either by the lock or, if the winner already committed, as already approved.
    loser = next(o for o in outcomes if o != evaluate.MIGRATING)
    assert "holds the migration lock; try again" in loser or "already approved" in loser, outcomes
    assert approvals().count() == 1
    assert MigrationBatch.objects.count() == 1


# --- state changes in one transaction -------------------------------------------


@pytest.mark.django_db
def test_it_rolls_back_a_success_whose_event_could_not_be_written(two_hot_hosts, monkeypatch):
    now = two_hot_hosts.now
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)

    def crash(*args, **kwargs):
        raise RuntimeError("database went away")

    with monkeypatch.context() as patched:
        patched.setattr(execution, "_event", crash)
        with pytest.raises(RuntimeError):
            execution.watch_migrations(now + timedelta(seconds=10))

    migration = Migration.objects.get()
    assert migration.state == Migration.State.MIGRATING, "the claim is undone with the rest"
    assert Guest.objects.get(name="busy-vm").status == Guest.Status.MIGRATING

    execution.watch_migrations(now + timedelta(seconds=11))
    guest = Guest.objects.get(name="busy-vm")
    assert Migration.objects.get().state == Migration.State.SUCCEEDED
    assert (guest.status, guest.host.name.startswith("spare-")) == (Guest.Status.RUNNING, True)
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS).count() == 1


@pytest.mark.django_db
def test_it_keeps_the_lock_when_finishing_a_batch_fails_halfway(two_hot_hosts, monkeypatch):
    now = two_hot_hosts.now
    batch = evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now).batch

    def crash(*args, **kwargs):
        raise RuntimeError("beat's tables are locked")

    with monkeypatch.context() as patched:
        patched.setattr(schedule, "check_after_settling", crash)
        with pytest.raises(RuntimeError):
            execution.watch_migrations(now + timedelta(seconds=10))

    batch.refresh_from_db()
    assert batch.finished_at is None and lock.holder_batch_id() == batch.pk
    assert MigrationRule.objects.get(name="cpu-rule").last_batch_finished_at is None

    assert execution.watch_migrations(now + timedelta(seconds=20)).batches_finished == 1
    assert lock.holder_batch_id() is None


# --- a batch that lost the lock ---------------------------------------------------


def batch_with_a_waiting_migration(cluster, now):
    rule = cluster.mem_rule()
    batch = MigrationBatch.objects.create(rule=rule, rule_name=rule.name, started_at=now)
    migration = Migration.objects.create(
        guest=cluster.big, source=cluster.hot_mem, target=cluster.spare1, rule=rule, batch=batch,
        notes={"target_host": {"name": "spare-1", "score": 0.0}},
    )
    return batch, migration


@pytest.mark.django_db
def test_it_does_not_start_migrations_of_a_batch_that_lost_the_lock(two_hot_hosts):
    now = two_hot_hosts.now
    batch, migration = batch_with_a_waiting_migration(two_hot_hosts, now)
    assert lock.acquire(MigrationBatch.objects.create(rule_name="other"), now).won

    assert execution.advance_batch(batch, now=now) == 0

    migration.refresh_from_db()
    assert migration.state == Migration.State.PENDING


@pytest.mark.django_db
def test_it_ends_a_batch_aborted_by_another_worker_as_aborted(two_hot_hosts):
    now = two_hot_hosts.now
    batch, _ = batch_with_a_waiting_migration(two_hot_hosts, now)
    Migration.objects.update(state=Migration.State.CANCELLED)
    stale_copy = MigrationBatch.objects.get(pk=batch.pk)
    MigrationBatch.objects.filter(pk=batch.pk).update(state=MigrationBatch.State.ABORTED)

    assert execution.finish_batch(stale_copy, now)

    assert MigrationBatch.objects.get(pk=batch.pk).state == MigrationBatch.State.ABORTED


@pytest.mark.django_db
def test_it_records_the_migrations_a_lease_takeover_cancelled(two_hot_hosts):
    now = timezone.now()
    old, waiting = batch_with_a_waiting_migration(two_hot_hosts, now - timedelta(hours=1))
    assert lock.acquire(old, now - timedelta(hours=1)).won  # a 900 s lease: long expired

    new = evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now).batch

    fail = Event.objects.get(action=Event.Action.MIGRATE_FAIL)
    assert fail.migration_id == waiting.pk and fail.rule_name == "mem-rule"
    assert fail.guest.name == "big-vm"
    assert f"batch #{old.pk} lost the migration lock" in fail.summary
    assert f"batch #{new.pk} of rule cpu-rule took it over" in fail.summary
    assert fail.summary.startswith("big-vm (2 vCPU, 16.0 GiB) migration hot-mem → spare-1 cancelled")


# --- the lock row and lost races --------------------------------------------------


@pytest.mark.django_db
def test_it_recreates_a_missing_lock_row_when_acquiring():
    MigrationLock.objects.all().delete()
    batch = MigrationBatch.objects.create(rule_name="r")
    assert lock.acquire(batch).won
    assert lock.holder_batch_id() == batch.pk


@pytest.mark.django_db
def test_it_reports_a_lost_race_as_a_busy_lock_even_when_the_holder_is_gone(two_hot_hosts, monkeypatch):
    # The holder released the lock between our refused UPDATE and the re-read.
    monkeypatch.setattr(lock, "acquire", lambda batch, now=None: Acquired(won=False, previous_batch_id=None))

    result = evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=two_hot_hosts.now)

    assert result.result == evaluate.SKIP
    assert "but another batch holds the migration lock" in result.summary
    assert "no planned move is still valid" not in result.summary
    assert not MigrationBatch.objects.exists()


# --- driver and metric source settings ----------------------------------------------


@pytest.mark.django_db
def test_it_does_not_take_the_lock_with_an_unknown_driver(two_hot_hosts, settings):
    tune(settings, DRIVER="libvirtt")
    with pytest.raises(ImproperlyConfigured, match="AUTOMIGRATE_DRIVER='libvirtt' is not a driver: use simulator"):
        evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=two_hot_hosts.now)
    assert lock.holder_batch_id() is None
    assert not MigrationBatch.objects.exists()


def test_it_reports_an_unknown_driver_or_metric_source_in_the_system_check(settings):
    assert not checks.run_checks()
    tune(settings, DRIVER="automigrate.drivers.simulator.SimulatorDriver", METRIC_SOURCE="database")
    assert not checks.run_checks(), "a dotted path to a driver class is fine"

    tune(settings, DRIVER="libvirtt", METRIC_SOURCE="influx")
    errors = {error.id: error.msg for error in checks.run_checks()}

    assert set(errors) == {"automigrate.E001", "automigrate.E002"}
    from automigrate.drivers import DRIVERS

    assert errors["automigrate.E001"] == (
        f"AUTOMIGRATE_DRIVER='libvirtt' is not a driver: use {', '.join(DRIVERS)},"
        " or the dotted path of a MigrationDriver class"
    )
    assert errors["automigrate.E002"].startswith(
        "AUTOMIGRATE_METRIC_SOURCE='influx' is not a metric source: use simulator, database"
    )
    assert all("\n" not in message for message in errors.values())


# --- settling and de-duplication -----------------------------------------------------


@pytest.mark.django_db
def test_it_lets_a_recommend_rule_settle_after_its_batch(two_hot_hosts):
    now = two_hot_hosts.now
    rule = two_hot_hosts.cpu_rule(mode="recommend")
    MigrationRule.objects.filter(pk=rule.pk).update(last_batch_finished_at=now - timedelta(seconds=10))
    rule.refresh_from_db()

    result = evaluate.evaluate_rule(rule, now=now)

    assert result.result == evaluate.SETTLING
    assert not Event.objects.filter(action=Event.Action.RECOMMEND).exists()


@pytest.mark.django_db
def test_it_records_a_recommendation_beside_unrelievable_hosts_once(two_hot_hosts):
    now = two_hot_hosts.now
    # A second hot host whose 40-vCPU guest fits on no spare (40 × 100 % / 64 cores + 5 % > 60 %).
    stuck = Host.objects.create(name="stuck", cpu_count=40, mem_total=256 * GIB)
    whale = Guest.objects.create(name="whale", host=stuck, vcpu_count=40, vmem_size=1024)
    write_samples(stuck, now, cpu=100.0, mem=200 * GIB)
    write_guest_samples(whale, now, 100.0)
    rule = two_hot_hosts.cpu_rule(mode="recommend")

    for second in range(3):
        assert evaluate.evaluate_rule(rule, now=now + timedelta(seconds=second)).result == evaluate.RECOMMEND

    recorded = list(Event.objects.filter(rule_ref=rule.pk).values_list("action", flat=True).order_by("id"))
    # The failures first: they are the recommendation's own, not a later decision superseding it.
    assert recorded == ["create", "find_result_fail", "recommend"]


# --- the simulator command -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("level", ["nan", "-50", "101", "inf"])
def test_it_refuses_a_calm_level_outside_0_to_100(level, capsys):
    host = Host.objects.create(name="h", cpu_count=8, mem_total=64 * GIB)
    Guest.objects.create(name="vm", host=host, vcpu_count=4, vmem_size=1024, workload={"shape": "idle"})

    with pytest.raises(SystemExit) as exited:
        call_command("simulator", "calm", "vm", "--level", level)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("simulator: level must be a CPU percentage from 0 to 100") and err.count("\n") == 1
    assert Guest.objects.get(name="vm").workload == {"shape": "idle"}

