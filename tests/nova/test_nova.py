"""The OpenStack connector against a real Nova 34 (API, conductor, scheduler, two nova-compute), over HTTP."""

import time

import pytest
from django.core import checks
from django.utils import timezone

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError
from automigrate.drivers.openstack import OpenStackDriver
from automigrate.models import Event, Guest, Host, Migration
from automigrate.services import evaluate, execution
from automigrate.services.inventory import sync_inventory
from automigrate.services.rules import create_rule

pytestmark = [pytest.mark.nova, pytest.mark.django_db(transaction=False)]
GiB = 1024**3


def migration_of(name, target):
    guest = Guest.objects.get(name=name)
    target_host = Host.objects.filter(name=target).first() or Host.objects.create(
        name=target, external_id=target, cpu_count=8, mem_total=8 * GiB)
    return Migration.objects.create(guest=guest, source=guest.host, target=target_host,
                                    state=Migration.State.MIGRATING, started_at=timezone.now())


def poll_until_done(driver, migration, seconds=40):
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        result = driver.poll(migration, timezone.now())
        if result.status != RUNNING:
            return result
        time.sleep(0.3)
    raise AssertionError("the migration did not end")


def test_inventory_reads_hypervisors_servers_of_all_projects_and_zones(nova):
    # Nova moves a host into another AZ only while it has no servers: zone first, then boot.
    aggregate = nova.api("POST", "/os-aggregates", {"aggregate": {"name": "rack-2", "availability_zone": "az2"}},
                         mv="2.41")["aggregate"]
    action = f"/os-aggregates/{aggregate['id']}/action"
    nova.api("POST", action, {"add_host": {"host": "host2"}}, mv="2.41")
    try:
        nova.boot("inv-a", "host1")
        b_row = nova.boot("inv-b", "host2", flavor="am-big", zone="az2")
        report = sync_inventory()
        nova.delete(b_row["id"])
    finally:
        nova.api("POST", action, {"remove_host": {"host": "host2"}}, mv="2.41", ok=(200, 404, 409))
        nova.api("DELETE", f"/os-aggregates/{aggregate['id']}", mv="2.41", ok=(200, 404, 409))
    assert not report.error, report.error
    host1, host2 = Host.objects.get(name="host1"), Host.objects.get(name="host2")
    assert (host1.cpu_count, host1.mem_total, host1.host_type, host1.enabled) == (1000, 800000 * 1024**2, "fake", True)
    assert "zone:nova" in host1.labels
    assert {"zone:az2", "aggregate:rack-2"} <= set(host2.labels)
    a, b = Guest.objects.get(name="inv-a"), Guest.objects.get(name="inv-b")
    assert (a.host, a.vcpu_count, a.vmem_size, a.status) == (host1, 1, 512, "running")
    assert (b.host, b.vcpu_count, b.vmem_size, b.external_id) == (host2, 200, 2048, b_row["id"])
    # Out of the aggregate again: the platform's labels follow Nova, an admin's label stays.
    Host.objects.filter(pk=host2.pk).update(labels=[*host2.labels, "rack-note"])
    sync_inventory()
    host2.refresh_from_db()
    assert "zone:nova" in host2.labels and "aggregate:rack-2" not in host2.labels and "rack-note" in host2.labels
    assert Guest.objects.get(name="inv-b").status == "gone"


def test_a_disabled_compute_service_is_kept_but_no_target(nova):
    nova.set_service("host2", enabled=False)
    try:
        sync_inventory()
    finally:
        nova.set_service("host2", enabled=True)
    assert Host.objects.get(name="host2").enabled is False
    sync_inventory()
    assert Host.objects.get(name="host2").enabled is True


def test_a_live_migration_succeeds_when_the_server_is_active_on_the_target(nova):
    row = nova.boot("mig-ok", "host1")
    sync_inventory()
    migration = migration_of("mig-ok", "host2")
    driver = OpenStackDriver()
    migration.driver_ref = driver.start(migration, timezone.now())
    assert migration.driver_ref.startswith(row["id"] + "|")
    assert nova.server(row["id"])["status"] == "MIGRATING"
    result = poll_until_done(driver, migration)
    assert result == (SUCCEEDED, "", "host2") or (result.status, result.host_name) == (SUCCEEDED, "host2"), result
    after = nova.server(row["id"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host2")


def test_cancel_aborts_the_migration_and_the_server_stays_on_its_source(nova):
    row = nova.boot("mig-abort", "host1")
    sync_inventory()
    migration = migration_of("mig-abort", "host2")
    driver = OpenStackDriver()
    migration.driver_ref = driver.start(migration, timezone.now())
    give_up = time.monotonic() + 20
    while not nova.api("GET", f"/servers/{row['id']}/migrations")["migrations"] and time.monotonic() < give_up:
        time.sleep(0.1)
    driver.cancel(migration)
    result = poll_until_done(driver, migration)
    assert result.status == FAILED and "cancelled" in result.error, result
    assert result.host_name == "host1"
    after = nova.server(row["id"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host1")


def test_a_host_nova_refuses_is_a_one_line_driver_error_with_novas_reason(nova):
    row = nova.boot("mig-refused", "host1")
    sync_inventory()
    migration = migration_of("mig-refused", "host2")
    nova.set_service("host2", enabled=False)
    try:
        with pytest.raises(DriverError) as refused:
            OpenStackDriver().start(migration, timezone.now())
    finally:
        nova.set_service("host2", enabled=True)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("Nova refused to move mig-refused to host2: Nova 400:")
    assert "No valid host" in message
    assert nova.server(row["id"])["OS-EXT-SRV-ATTR:host"] == "host1"


def test_an_unknown_host_is_a_one_line_driver_error(nova):
    nova.boot("mig-unknown", "host1")
    sync_inventory()
    migration = migration_of("mig-unknown", "host9")
    with pytest.raises(DriverError, match=r"^Nova refused to move mig-unknown to host9: Nova 400: "
                                          r"Compute host host9 could not be found\.$"):
        OpenStackDriver().start(migration, timezone.now())


def test_end_to_end_a_hot_hypervisor_is_relieved_through_nova(nova, settings):
    """Inventory from Nova, samples as telegraf would push them, the evaluator and watcher as in production."""
    from tests.evaluator.helpers import write_guest_samples, write_samples

    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "COOLDOWN_MINUTES": 30, "MAX_IN_FLIGHT": 4}
    row = nova.boot("e2e-busy", "host1", flavor="am-big")
    nova.boot("e2e-idle", "host1")
    sync_inventory()
    now = timezone.now()
    write_samples(Host.objects.get(name="host1"), now, cpu=65.0, mem=400 * GiB)
    write_samples(Host.objects.get(name="host2"), now, cpu=10.0, mem=600 * GiB)
    write_guest_samples(Guest.objects.get(name="e2e-busy"), now, 100.0)
    write_guest_samples(Guest.objects.get(name="e2e-idle"), now, 1.0)
    rule = create_rule({"name": "nova-cpu", "metric": "cpu.usage_active", "threshold": 60, "period": "2m",
                        "mode": "automatic"})
    outcome = evaluate.evaluate_rule(rule, now=now)
    assert outcome.result == "migrating", outcome.summary
    migration = Migration.objects.get()
    assert (migration.guest.name, migration.target.name) == ("e2e-busy", "host2")
    give_up = time.monotonic() + 40
    while Migration.objects.get().state == Migration.State.MIGRATING and time.monotonic() < give_up:
        execution.watch_migrations()
        time.sleep(0.3)
    migration.refresh_from_db()
    assert migration.state == Migration.State.SUCCEEDED, migration.error
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS, migration=migration).exists()
    assert nova.server(row["id"])["OS-EXT-SRV-ATTR:host"] == "host2"
    sync_inventory()
    assert Guest.objects.get(name="e2e-busy").host.name == "host2"


def test_missing_credentials_are_a_system_check_error(settings, monkeypatch):
    import os

    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "openstack", "DRIVER": ""}
    errors = [m for m in checks.run_checks() if m.id == "automigrate.E004"]
    assert len(errors) == 1 and "OS_CLOUD" in errors[0].msg
    monkeypatch.setenv("OS_CLOUD", "nowhere")
    errors = [m for m in checks.run_checks() if m.id == "automigrate.E004"]
    assert len(errors) == 1 and "nowhere" in errors[0].msg


def test_a_migration_past_its_timeout_is_aborted_by_the_watcher_and_stays_on_its_source(nova, settings):
    from tests.evaluator.helpers import write_guest_samples, write_samples

    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "MIGRATION_TIMEOUT_BASE_SECONDS": 1,
                            "MIGRATION_TIMEOUT_SECONDS_PER_GIB": 0}
    row = nova.boot("slow-busy", "host1", flavor="am-big")
    sync_inventory()
    now = timezone.now()
    write_samples(Host.objects.get(name="host1"), now, cpu=65.0, mem=400 * GiB)
    write_samples(Host.objects.get(name="host2"), now, cpu=10.0, mem=600 * GiB)
    write_guest_samples(Guest.objects.get(name="slow-busy"), now, 100.0)
    rule = create_rule({"name": "nova-slow", "metric": "cpu.usage_active", "threshold": 60, "period": "2m",
                        "mode": "automatic"})
    assert evaluate.evaluate_rule(rule, now=now).result == "migrating"
    time.sleep(1.5)
    execution.watch_migrations()
    migration = Migration.objects.get()
    assert migration.state == Migration.State.TIMED_OUT, (migration.state, migration.error)
    assert "timed out" in migration.error
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        records = nova.api("GET", f"/os-migrations?instance_uuid={row['id']}")["migrations"]
        if records and records[0]["status"] in ("cancelled", "completed", "error"):
            break
        time.sleep(0.3)
    assert records[0]["status"] == "cancelled"
    after = nova.server(row["id"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host1")
