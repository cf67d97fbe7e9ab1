"""The simulated cluster: samples that follow placement and load, and a driver that takes time."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, GuestSample, Host, HostSample, Migration, MigrationRule
from automigrate.services import demo, evaluate, execution
from automigrate.simulator import cluster, workloads
from tests.evaluator.helpers import GIB, tune


def latest(host, metric):
    return HostSample.objects.filter(host=host, metric=metric).latest("time").value


@pytest.mark.django_db
def test_host_samples_follow_the_guests_placed_on_them():
    host = Host.objects.create(name="h", cpu_count=40, mem_total=256 * GIB)
    Guest.objects.create(name="stress", host=host, vcpu_count=24, vmem_size=1024, workload={"shape": "stress"})
    Guest.objects.create(name="half", host=host, vcpu_count=8, vmem_size=4096,
                         workload={"shape": "steady", "level": 50, "noise": 0})
    Guest.objects.create(name="off", host=host, vcpu_count=8, vmem_size=4096, status=Guest.Status.STOPPED)

    assert cluster.tick() == (2, 2)

    # 24 × 100 / 40 + 8 × 50 / 40 = 70, plus 2-3 % for the host itself.
    assert 72 <= latest(host, CPU) <= 73
    expected_mem = 256 * GIB - 5 * 1024**3 - cluster.HOST_RESERVED_BYTES
    assert expected_mem - 64 * 1024**2 <= latest(host, MEM) <= expected_mem
    assert GuestSample.objects.get(guest__name="stress").cpu == 100.0


@pytest.mark.django_db
def test_offline_hosts_report_nothing_so_their_metrics_go_stale():
    Host.objects.create(name="down", cpu_count=8, mem_total=64 * GIB, status=Host.Status.OFFLINE)
    assert cluster.tick() == (0, 0)


def test_workload_shapes_stay_within_0_and_100_and_stress_pins_the_vcpus():
    for shape in workloads.SHAPES:
        values = [workloads.usage({"shape": shape, "level": 90, "burst": 70}, 7, t) for t in range(0, 86400, 997)]
        assert all(0 <= v <= 100 for v in values)
    assert workloads.usage({"shape": "stress"}, 1, 123.0) == 100.0
    wave = {"shape": "wave", "level": 30, "amplitude": 20, "noise": 0}
    assert workloads.usage(wave, 1, 86400 / 4) == pytest.approx(50)
    assert workloads.usage(wave, 1, 3 * 86400 / 4) == pytest.approx(10)


@pytest.mark.django_db
def test_seed_builds_mixed_hosts_and_fitting_placement():
    summary = cluster.seed_cluster(hosts=8, guests=120, seed=3)
    assert (summary.hosts, summary.guests) == (8, 120)
    assert {h.cpu_count for h in Host.objects.all()} == {16, 32, 40, 64}
    for host in Host.objects.all():
        used = sum(g.vmem_size for g in host.guests.all()) * 1024**2
        assert used <= host.mem_total * (1 - cluster.SEED_MEM_FREE)
    assert {g.workload["shape"] for g in Guest.objects.all()} >= {"steady", "wave", "bursty"}
    with pytest.raises(cluster.SimulatorError, match="already exists"):
        cluster.seed_cluster(hosts=1, guests=1)


@pytest.mark.django_db
def test_stress_and_calm_commands_change_a_guests_load(capsys):
    host = Host.objects.create(name="h", cpu_count=8, mem_total=64 * GIB)
    Guest.objects.create(name="vm", host=host, vcpu_count=4, vmem_size=1024, workload={"shape": "idle"})
    call_command("simulator", "stress", "vm")
    assert Guest.objects.get(name="vm").workload == {"shape": "stress"}
    call_command("simulator", "calm", "vm", "--level", "3")
    assert Guest.objects.get(name="vm").workload == {"shape": "steady", "level": 3.0}
    with pytest.raises(SystemExit):
        call_command("simulator", "stress", "nope")
    assert "no guest named 'nope'" in capsys.readouterr().err


@pytest.mark.django_db
def test_simulated_migrations_take_time_in_proportion_to_memory(two_hot_hosts):
    now = two_hot_hosts.now
    two_hot_hosts.busy.vmem_size = 8000  # 20 s at 400 MB/s
    two_hot_hosts.busy.save()
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)
    assert execution.watch_migrations(now + timedelta(seconds=19)).succeeded == 0
    assert execution.watch_migrations(now + timedelta(seconds=20)).succeeded == 1


@pytest.mark.django_db
def test_simulated_migrations_fail_with_the_configured_probability(two_hot_hosts, settings):
    tune(settings, SIM_FAILURE_PROBABILITY=1.0)
    now = two_hot_hosts.now
    evaluate.evaluate_rule(two_hot_hosts.cpu_rule(), now=now)
    execution.watch_migrations(now + timedelta(seconds=10))
    assert Migration.objects.get().state == Migration.State.FAILED
    assert Guest.objects.get(name="busy-vm").host.name == "hot-cpu"
    assert "simulated failure" in Event.objects.get(action=Event.Action.MIGRATE_FAIL).notes["error"]


@pytest.mark.django_db
def test_the_demo_seeds_once_with_two_rules_that_fire():
    text = demo.ensure_demo_cluster()
    assert "seeded a simulated cluster" in text
    assert set(MigrationRule.objects.values_list("name", flat=True)) == {"test-cpu", "test-mem"}
    assert Event.objects.filter(action=Event.Action.CREATE).count() == 2
    assert "nothing seeded" in demo.ensure_demo_cluster()

    results = {rule.name: evaluate.preview_rule(rule) for rule in MigrationRule.objects.all()}
    assert [m.guest for m in results["test-cpu"].moves] == ["cpu-test-vm"]
    assert [m.guest for m in results["test-mem"].moves] == ["db-cache-vm"]
