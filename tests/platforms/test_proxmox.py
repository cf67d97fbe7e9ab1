"""The Proxmox VE connector against a faithful fake of its API (tests/platforms/fake_proxmox.py), over HTTPS."""

import time

import pytest
from django.core import checks
from django.utils import timezone

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError
from automigrate.drivers.proxmox import ProxmoxDriver
from automigrate.models import Event, Guest, Host, Migration
from automigrate.platforms import PlatformError
from automigrate.platforms.proxmox import ProxmoxPlatform
from automigrate.services import evaluate, execution
from automigrate.services.inventory import sync_inventory
from automigrate.services.rules import create_rule
from tests.platforms.fake_proxmox import FakeNode, FakeProxmox, GiB, demo_state


@pytest.fixture
def fake(tmp_path):
    with FakeProxmox(tmp_path, demo_state()) as server:
        yield server


@pytest.fixture
def proxmox(fake, settings):
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE, "PLATFORM": "proxmox", "DRIVER": "", "METRIC_SOURCE": "database",
        "PROXMOX_URL": fake.url, "PROXMOX_TOKEN_ID": "automigrate@pve!am", "PROXMOX_TOKEN_SECRET": "5ecret",
        "PROXMOX_VERIFY_TLS": str(fake.ca_file), "PROXMOX_TIMEOUT_SECONDS": 2, "PROXMOX_WITH_LOCAL_DISKS": False,
    }
    return fake


def migration_of(name, target):
    guest = Guest.objects.get(name=name)
    return Migration.objects.create(guest=guest, source=guest.host, target=Host.objects.get(name=target),
                                    state=Migration.State.MIGRATING, started_at=timezone.now())


def poll_until_done(driver, migration, seconds=10):
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        result = driver.poll(migration, timezone.now())
        if result.status != RUNNING:
            return result
        time.sleep(0.1)
    raise AssertionError("the fake's task never ended")


@pytest.mark.django_db
def test_inventory_has_nodes_and_qemu_vms_but_no_containers(proxmox):
    report = sync_inventory()
    assert not report.error
    assert {(h.name, h.cpu_count, h.mem_total) for h in Host.objects.all()} == {
        ("pve1", 16, 64 * GiB), ("pve2", 16, 64 * GiB), ("pve3", 16, 64 * GiB)
    }
    assert set(Guest.objects.values_list("name", flat=True)) == {"web-1", "db-1", "db-2", "legacy", "stopped-1"}
    web = Guest.objects.get(name="web-1")
    assert (web.external_id, web.host.name, web.vcpu_count, web.vmem_size, web.status) == (
        "100", "pve1", 4, 4096, "running"
    )
    assert Guest.objects.get(name="stopped-1").status == "stopped"
    legacy = Guest.objects.get(name="legacy")
    assert "never-migrate" in legacy.labels and "tag:plb_ignore" in legacy.labels
    assert "tag:plb_anti_affinity_db" in Guest.objects.get(name="db-1").labels


@pytest.mark.django_db
def test_an_offline_node_is_taken_out_of_play_with_its_guests_kept(proxmox):
    sync_inventory()
    proxmox.state.nodes["pve2"].status = "offline"
    sync_inventory()
    pve2 = Host.objects.get(name="pve2")
    assert pve2.status == Host.Status.OFFLINE
    assert Guest.objects.get(name="db-2").host == pve2
    assert "node status is offline" in Event.objects.get(action=Event.Action.INVENTORY, source_host=pve2).summary


@pytest.mark.django_db
def test_a_wrong_token_or_an_unverified_certificate_is_one_readable_line(proxmox, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PROXMOX_TOKEN_SECRET": "wrong"}
    with pytest.raises(PlatformError, match=r"^Proxmox 401: authentication failure$"):
        ProxmoxPlatform().read_inventory()
    # TLS is verified by default: the fake's self-signed certificate is refused without its CA.
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PROXMOX_TOKEN_SECRET": "5ecret", "PROXMOX_VERIFY_TLS": "1"}
    with pytest.raises(PlatformError, match=r"unreachable: .*CERTIFICATE_VERIFY_FAILED"):
        ProxmoxPlatform().read_inventory()


@pytest.mark.django_db
def test_a_slow_cluster_is_bounded_by_the_timeout(proxmox, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PROXMOX_TIMEOUT_SECONDS": 0.5}
    proxmox.state.delay = 3
    started = time.monotonic()
    with pytest.raises(PlatformError, match=r"did not answer in 0.5 s"):
        ProxmoxPlatform().read_inventory()
    assert time.monotonic() - started < 2


def test_incomplete_settings_are_system_check_errors(settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "proxmox", "PROXMOX_URL": "http://pve:8006",
                            "PROXMOX_TOKEN_ID": "root", "PROXMOX_TOKEN_SECRET": ""}
    messages = [m.msg for m in checks.run_checks() if m.id == "automigrate.E004"]
    assert len(messages) == 3
    assert any("AUTOMIGRATE_PROXMOX_URL" in m and "https://" in m for m in messages)
    assert any("USER@REALM!TOKENID" in m for m in messages)


@pytest.mark.django_db
def test_a_migration_runs_as_a_task_and_succeeds_when_the_vm_runs_on_the_target(proxmox):
    sync_inventory()
    driver, migration = ProxmoxDriver(), migration_of("web-1", "pve2")
    assert driver.precheck(migration) is None
    migration.driver_ref = driver.start(migration, timezone.now())
    assert migration.driver_ref.startswith("UPID:pve1:")
    method, path, body = proxmox.state.calls[-1]
    assert (method, path, body) == ("POST", "/nodes/pve1/qemu/100/migrate", {"target": "pve2", "online": "1"})
    assert driver.poll(migration, timezone.now()).status == RUNNING
    result = poll_until_done(driver, migration)
    assert (result.status, result.host_name) == (SUCCEEDED, "pve2")
    assert proxmox.state.vms[100].node == "pve2"


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "prepare", "message"), [
    ("pve1", None, r"^Proxmox 400: target: target is local node\.$"),
    ("pve2", lambda s: s.vms[100].__setattr__("lock", "backup"), r"^Proxmox 500: VM is locked \(backup\)$"),
    ("pve2", lambda s: s.nodes.pop("pve2"), r"^Proxmox 500: no such cluster node 'pve2'$"),
    ("pve2", lambda s: s.nodes["pve2"].__setattr__("status", "offline"), r"target node 'pve2' is not online"),
])
def test_proxmox_refusals_become_one_line_driver_errors(proxmox, target, prepare, message):
    sync_inventory()
    migration = migration_of("web-1", target)
    if prepare:
        prepare(proxmox.state)
    with pytest.raises(DriverError, match=message):
        ProxmoxDriver().start(migration, timezone.now())


@pytest.mark.django_db
def test_precheck_names_local_disks_and_refused_targets(proxmox, settings):
    sync_inventory()
    proxmox.state.vms[100].local_disks = True
    migration = migration_of("web-1", "pve2")
    assert "local disks (local-lvm:vm-100-disk-0)" in ProxmoxDriver().precheck(migration)
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PROXMOX_WITH_LOCAL_DISKS": True}
    assert ProxmoxDriver().precheck(migration) is None
    ProxmoxDriver().start(migration, timezone.now())
    assert proxmox.state.calls[-1][2]["with-local-disks"] == "1"
    proxmox.state.nodes["pve3"].status = "offline"
    assert "refuses pve3" in ProxmoxDriver().precheck(migration_of("db-1", "pve3"))


@pytest.mark.django_db
def test_a_failed_task_or_a_vm_that_lands_elsewhere_is_a_failure_naming_where_it_is(proxmox):
    sync_inventory()
    driver = ProxmoxDriver()
    proxmox.state.fail[100] = "migration problems"
    failing = migration_of("web-1", "pve2")
    failing.driver_ref = driver.start(failing, timezone.now())
    result = poll_until_done(driver, failing)
    assert (result.status, result.host_name) == (FAILED, "pve1")
    assert result.error.endswith("ended: migration problems")
    proxmox.state.land_elsewhere[101] = "pve3"
    elsewhere = migration_of("db-1", "pve2")
    elsewhere.driver_ref = driver.start(elsewhere, timezone.now())
    result = poll_until_done(driver, elsewhere, seconds=20)
    assert (result.status, result.host_name) == (FAILED, "pve3")
    assert "is on pve3, not pve2" in result.error


@pytest.mark.django_db
def test_cancel_stops_the_task_and_the_vm_stays_on_its_source(proxmox):
    sync_inventory()
    proxmox.state.seconds_per_gib = 60
    driver, migration = ProxmoxDriver(), migration_of("web-1", "pve2")
    migration.driver_ref = driver.start(migration, timezone.now())
    driver.cancel(migration)
    result = driver.poll(migration, timezone.now())
    assert (result.status, result.host_name) == (FAILED, "pve1")
    assert "interrupted by signal" in result.error
    assert proxmox.state.vms[100].node == "pve1"


@pytest.mark.django_db
def test_end_to_end_a_hot_node_is_relieved_through_proxmox(proxmox, settings):
    """Inventory from Proxmox, samples as telegraf would push them, the evaluator and watcher as in production."""
    from tests.evaluator.helpers import write_guest_samples, write_samples

    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "COOLDOWN_MINUTES": 30, "MAX_IN_FLIGHT": 4}
    sync_inventory()
    now = timezone.now()
    for node, cpu in (("pve1", 75.0), ("pve2", 10.0), ("pve3", 20.0)):
        write_samples(Host.objects.get(name=node), now, cpu=cpu, mem=40 * GiB)
    for name, cpu in (("web-1", 100.0), ("db-1", 30.0), ("db-2", 5.0)):
        write_guest_samples(Guest.objects.get(name=name), now, cpu)
    rule = create_rule({"name": "pve-cpu", "metric": "cpu.usage_active", "threshold": 60, "period": "2m",
                        "mode": "automatic"})
    outcome = evaluate.evaluate_rule(rule, now=now)
    assert outcome.result == "migrating", outcome.summary
    migration = Migration.objects.get()
    assert migration.guest.name == "web-1" and migration.driver_ref.startswith("UPID:pve1:")
    give_up = time.monotonic() + 15
    while Migration.objects.get().state == Migration.State.MIGRATING and time.monotonic() < give_up:
        execution.watch_migrations()
        time.sleep(0.2)
    migration.refresh_from_db()
    assert migration.state == Migration.State.SUCCEEDED, migration.error
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS, migration=migration).exists()
    assert proxmox.state.vms[100].node == migration.target.external_id
    sync_inventory()
    assert Guest.objects.get(name="web-1").host == migration.target


def test_the_fake_answers_a_node_list_like_proxmox(tmp_path):
    """Guard for the fake itself: an offline node carries no usage numbers, as in PVE."""
    state = demo_state()
    state.nodes["pve4"] = FakeNode("pve4", status="offline")
    with FakeProxmox(tmp_path, state) as server:
        import requests

        rows = requests.get(f"{server.url}/api2/json/cluster/resources?type=node", verify=str(server.ca_file),
                            headers={"Authorization": f"PVEAPIToken={state.token}"}, timeout=5).json()["data"]
    offline = next(r for r in rows if r["node"] == "pve4")
    assert "maxcpu" not in offline and offline["status"] == "offline"


@pytest.mark.django_db
def test_the_proxmox_metric_source_samples_nodes_and_vms(proxmox, settings):
    from automigrate.services.metrics import host_means, sample_source
    from automigrate.sources import get_source

    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "proxmox"}
    sync_inventory()
    proxmox.state.nodes["pve1"].cpu, proxmox.state.nodes["pve1"].mem = 0.73, 50 * GiB
    now = timezone.now()
    assert sample_source(now) == "6 host and 4 guest samples from proxmox"
    means = host_means(60, now)
    pve1 = Host.objects.get(name="pve1")
    assert means[pve1.pk] == {"cpu.usage_active": pytest.approx(73.0), "mem.available": float(14 * GiB)}
    web = Guest.objects.get(name="web-1")
    assert get_source().guest_means(now - timezone.timedelta(seconds=60), now, [web.pk]) == {
        web.pk: pytest.approx(90.0)
    }
    proxmox.state.token = "someone@pve!else=x"
    assert sample_source(now).startswith("skipped: Proxmox 401")


@pytest.mark.django_db
def test_sampling_is_scheduled_only_for_a_source_that_samples(settings):
    from django_celery_beat.models import PeriodicTask

    from automigrate.services import schedule

    schedule.ensure_system_schedules()
    assert not PeriodicTask.objects.get(task="automigrate.tasks.sample_metrics").enabled
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "proxmox"}
    schedule.ensure_system_schedules()
    assert PeriodicTask.objects.get(task="automigrate.tasks.sample_metrics").enabled
