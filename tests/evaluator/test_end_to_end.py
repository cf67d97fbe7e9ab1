"""End to end: the simulator, a real Celery worker and a stressed guest.

The worker is celery.contrib.testing's embedded worker (a thread of this
process, tests/evaluator/workers.py) on the broker in CELERY_TEST_BROKER_URL
(CI: Redis), or the in-memory broker when unset. Tasks go through the broker
and the task routes exactly as beat sends them; the test plays beat by
sending them by name.
"""

import time

import pytest

from automigrate.engine.model import CPU
from automigrate.models import Event, Guest, Host
from automigrate.services.rules import create_rule
from automigrate.simulator import cluster
from tests.evaluator.helpers import GIB
from tests.evaluator.workers import running_worker

WAIT_SECONDS = 60


@pytest.fixture
def celery_app():
    with running_worker() as app:
        yield app


def wait_for(predicate, app, message):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        app.send_task("automigrate.tasks.watch_migrations")
        if predicate():
            return
        time.sleep(1)
    pytest.fail(message)


@pytest.mark.django_db(transaction=True)
def test_a_stressed_guest_is_migrated_by_the_celery_worker(celery_app):
    hot = Host.objects.create(name="hot", cpu_count=40, mem_total=256 * GIB)
    Host.objects.create(name="roomy", cpu_count=64, mem_total=512 * GIB)
    Guest.objects.create(name="web", host=hot, vcpu_count=4, vmem_size=2048, workload={"shape": "steady", "level": 20})
    vm = Guest.objects.create(name="cpu-test-vm", host=hot, vcpu_count=24, vmem_size=1024,
                              workload={"shape": "steady", "level": 5})
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "30s"})
    cluster.set_workload("cpu-test-vm", "stress")  # what `manage.py simulator stress cpu-test-vm` does
    cluster.backfill(30)  # the stressed window three beat ticks would have written

    celery_app.send_task("automigrate.tasks.simulator_tick")
    celery_app.send_task("automigrate.tasks.evaluate_rule", args=[rule.pk])
    wait_for(lambda: Event.objects.filter(action=Event.Action.MIGRATING).exists(), celery_app,
             "no migrating event")
    wait_for(lambda: Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS).exists(), celery_app,
             "no migrate_success event")
    migrating = Event.objects.get(action=Event.Action.MIGRATING)
    success = Event.objects.get(action=Event.Action.MIGRATE_SUCCESS)
    assert migrating.pk < success.pk
    assert migrating.notes["guest"]["name"] == success.notes["guest"]["name"] == "cpu-test-vm"
    vm.refresh_from_db()
    assert vm.host.name == "roomy" and vm.status == Guest.Status.RUNNING
    assert vm.last_migrated_from == hot
