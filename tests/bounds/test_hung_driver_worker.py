"""A driver whose start and poll never answer, with a real Celery worker: nothing else waits for it.

The worker consumes every queue, like `make run`'s (a threads pool of 3, as
`make run`'s prefork pool of 2 plus the beat-like loop here). The test plays
beat: every half second it sends the watcher, every second a simulator tick
and an evaluation of another rule. The hung migration must be timed out at
its deadline, naming the call, with the lock released; meanwhile samples and
the other rule's evaluations must keep coming.
"""

import itertools
import time

import pytest

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, Host, HostSample, Migration, MigrationLock, MigrationRule
from automigrate.services.rules import create_rule
from automigrate.simulator import cluster
from tests.bounds import outside
from tests.evaluator.helpers import GIB, tune
from tests.evaluator.workers import running_worker

DEADLINE_SECONDS = 8  # MIGRATION_TIMEOUT_BASE_SECONDS for this test (0 s per GiB)
WATCH_INTERVAL = 0.5
GIVE_UP = 40


def _gaps(times):
    times = sorted(set(times))
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


@pytest.mark.django_db(transaction=True)
def test_a_hung_driver_times_out_on_time_and_stalls_nothing_else(settings):
    tune(settings, DRIVER="tests.bounds.outside.BlockingDriver", MIGRATION_TIMEOUT_BASE_SECONDS=DEADLINE_SECONDS,
         MIGRATION_TIMEOUT_SECONDS_PER_GIB=0, WATCH_INTERVAL_SECONDS=WATCH_INTERVAL)
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * GIB)
    Host.objects.create(name="roomy", cpu_count=64, mem_total=512 * GIB)
    Guest.objects.create(name="web", host=hot, vcpu_count=4, vmem_size=2048, workload={"shape": "steady", "level": 20})
    Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024,
                         workload={"shape": "steady", "level": 5})
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "30s"})
    # Never fires (no host has less than 64 MB available): evaluated, and calm, every time.
    other = create_rule({"name": "test-mem", "metric": MEM, "threshold": "64M", "period": "30s"})
    cluster.set_workload("cpu-test-vm", "stress")
    cluster.backfill(30)

    with running_worker(pool="threads", concurrency=3) as app:
        app.send_task("automigrate.tasks.evaluate_rule", args=[rule.pk])
        evaluations, timed_out, began = [], None, time.monotonic()
        next_tick = began
        while time.monotonic() - began < GIVE_UP:
            app.send_task("automigrate.tasks.watch_migrations")
            if time.monotonic() >= next_tick:
                app.send_task("automigrate.tasks.simulator_tick")
                app.send_task("automigrate.tasks.evaluate_rule", args=[other.pk])
                next_tick += 1
            evaluated = MigrationRule.objects.filter(pk=other.pk).values_list("last_evaluated_at", flat=True).get()
            if evaluated and evaluated not in evaluations:
                evaluations.append(evaluated)
            migration = Migration.objects.first()
            if timed_out is None and migration and migration.state == Migration.State.TIMED_OUT:
                timed_out = time.monotonic()
            if timed_out and time.monotonic() - timed_out > 2:
                break
            time.sleep(WATCH_INTERVAL)

    assert migration is not None, "the rule never started a migration"
    assert migration.state == Migration.State.TIMED_OUT, f"still {migration.state} after {GIVE_UP} s"
    # On time: at its deadline, within one watch interval plus one poll bound (and some scheduling slack).
    late = (migration.finished_at - migration.deadline_at).total_seconds()
    assert 0 <= late <= WATCH_INTERVAL + settings.AUTOMIGRATE["DRIVER_POLL_TIMEOUT_SECONDS"] + 1.5, late
    fail = Event.objects.get(action=Event.Action.MIGRATE_FAIL, migration=migration)
    assert f"timed out after {DEADLINE_SECONDS} s" in fail.summary
    assert "driver poll did not answer in 1 s" in fail.summary
    assert MigrationLock.objects.get().batch_id is None
    assert Guest.objects.get(name="cpu-test-vm").status == Guest.Status.RUNNING

    # Meanwhile: samples every tick, the other rule evaluated again and again.
    window = (migration.started_at, migration.finished_at)
    sampled = list(HostSample.objects.filter(host=hot, time__gt=window[0], time__lte=window[1])
                   .values_list("time", flat=True))
    assert len(set(sampled)) >= DEADLINE_SECONDS // 2, f"only {len(set(sampled))} ticks wrote samples"
    assert max(_gaps([window[0], *sampled, window[1]])) < 4
    during = [t for t in evaluations if window[0] <= t <= window[1]]
    assert len(during) >= DEADLINE_SECONDS // 2, f"the other rule was evaluated {len(during)} times"
    assert outside.BlockingDriver.calls.count("start") == 1
