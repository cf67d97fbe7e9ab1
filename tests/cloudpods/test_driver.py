"""The live-migration driver against the fake: every status path, refusals, cancel, and the watcher."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate.drivers import get_driver
from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError
from automigrate.models import Event, Guest, Host, Migration
from automigrate.platforms.cloudpods.driver import CloudpodsDriver
from automigrate.services import execution
from automigrate.services.inventory import sync_inventory
from tests.cloudpods.conftest import point_at


@pytest.fixture
def world(cloudpods):
    ids = {
        "src": cloudpods.add_host("src"),
        "dst": cloudpods.add_host("dst"),
        "third": cloudpods.add_host("third"),
        "closed": cloudpods.add_host("closed", enabled=False),
    }
    ids["vm"] = cloudpods.add_server("vm", ids["src"], vcpu_count=4, vmem_size=4096)
    ids["ready"] = cloudpods.add_server("ready-vm", ids["src"], status="ready")
    sync_inventory()
    return ids


def migration(guest="vm", target="dst") -> Migration:
    g = Guest.objects.get(name=guest)
    # A guest has at most one active migration (a database constraint): end an earlier one of this test.
    Migration.objects.filter(guest=g, state__in=Migration.ACTIVE_STATES).update(state=Migration.State.CANCELLED)
    return Migration.objects.create(guest=g, source=g.host, target=Host.objects.get(name=target),
                                    state=Migration.State.MIGRATING, started_at=timezone.now())


def follow(driver, m, seconds=5.0):
    """Poll like the watcher until the driver says it ended; returns every result seen."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = driver.poll(m, timezone.now())
        seen.append(result)
        if result.status != RUNNING:
            return seen
        time.sleep(0.05)
    pytest.fail(f"still running after {seconds} s: {seen[-1]}")


def test_the_configured_platform_brings_its_driver(cloudpods):
    assert isinstance(get_driver().inner, CloudpodsDriver)  # inside the framework's bounds


def test_live_migrate_sends_the_body_the_original_monitor_sends(world, cloudpods, settings):
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    (call,) = cloudpods.calls_to("POST", f"/servers/{world['vm']}/live-migrate")
    assert call["body"] == {"server": {"prefer_host_id": world["dst"], "skip_cpu_check": True,
                                       "skip_kernel_check": True}}
    assert m.driver_ref == world["vm"]
    point_at(settings, cloudpods, SKIP_KERNEL_CHECK=False, MAX_BANDWIDTH_MB=200)
    cloudpods.servers[world["vm"]]["status"] = "running"
    CloudpodsDriver().start(m, timezone.now())
    last = cloudpods.calls_to("POST", "/live-migrate")[-1]["body"]["server"]
    assert last["skip_kernel_check"] is False and last["max_bandwidth_mb"] == 200


def test_success_is_running_on_the_target_even_though_host_id_switched_earlier(world, cloudpods):
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    states = []
    while True:
        server = cloudpods.server_now(world["vm"])
        result = driver.poll(m, timezone.now())
        states.append((server["status"], server["host_id"] == world["dst"], result.status))
        if result.status != RUNNING:
            break
        time.sleep(0.03)
    assert ("start_migrate", False, RUNNING) in states
    assert ("live_migrating", False, RUNNING) in states
    assert ("live_migrating", True, RUNNING) in states  # on the target already, not done yet
    assert result == driver.poll(m, timezone.now()) and result.status == SUCCEEDED and result.host_name == "dst"


def test_a_failed_migration_reads_its_reason_from_the_operation_log_then_syncs(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "fail"
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    result = follow(driver, m)[-1]
    assert result.status == FAILED and result.host_name == "src"
    assert result.error == ("Cloudpods status migrate_failed: Live migrate failed: qemu-kvm: load of migration"
                            " failed: Input/output error")
    (events,) = cloudpods.calls_to("GET", "/region/events")
    assert events["query"]["obj_id"] == world["vm"] and events["query"]["action"] == "migrate_fail"
    assert cloudpods.calls_to("POST", f"/servers/{world['vm']}/syncstatus")
    time.sleep(0.3)
    assert cloudpods.server_now(world["vm"])["status"] == "running"  # back on its source


def test_landing_on_a_third_host_is_a_failure_naming_it(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "third_host"
    cloudpods.third_host[world["vm"]] = world["third"]
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    result = follow(driver, m)[-1]
    assert result.status == FAILED and result.host_name == "third"
    assert "running on third" in result.error and "neither its source nor the target dst" in result.error


def test_back_on_the_source_without_a_failure_status_is_a_failure(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "rollback"
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    result = follow(driver, m)[-1]
    assert result.status == FAILED and result.host_name == "src" and "on its source src again" in result.error


def test_a_server_that_vanishes_mid_migration_is_a_failure(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "vanish"
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    result = follow(driver, m)[-1]
    assert result.status == FAILED and result.error == f"the server {world['vm']} no longer exists in Cloudpods"


@pytest.mark.parametrize(("case", "message"), [
    ("status", "Cannot live migrate in status ready"),
    ("hypervisor", "Not allow for hypervisor esxi"),
    ("host", "Host 00000000-gone not found"),
])
def test_synchronous_refusals_are_driver_errors_with_cloudpods_message(world, cloudpods, case, message):
    m = migration("ready-vm") if case == "status" else migration()
    if case == "hypervisor":
        cloudpods.servers[world["vm"]]["hypervisor"] = "esxi"
    if case == "host":
        Host.objects.filter(name="dst").update(external_id="00000000-gone")
        m.target.refresh_from_db()
    with pytest.raises(DriverError) as refused:
        CloudpodsDriver().start(m, timezone.now())
    assert str(refused.value) == message


def test_precheck_asks_migrate_forecast_and_names_its_refusal(world, cloudpods):
    driver = CloudpodsDriver()
    assert driver.precheck(migration()) is None
    (call,) = cloudpods.calls_to("POST", "/migrate-forecast")
    assert call["body"] == {"server": {"live_migrate": True, "prefer_host_id": world["dst"], "skip_cpu_check": True}}
    assert driver.precheck(migration(target="closed")) == (
        "Cloudpods migrate-forecast: vm cannot live-migrate to closed: host closed is disabled"
    )
    assert driver.precheck(migration("ready-vm")) == (
        "Cloudpods migrate-forecast refused: Cannot live migrate in status ready"
    )


def test_cancel_only_while_live_migrating_then_waits_for_the_server_to_settle(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "hang"
    m = migration()
    driver = CloudpodsDriver()
    m.driver_ref = driver.start(m, timezone.now())
    driver.cancel(m)  # still start_migrate: Cloudpods would refuse, so nothing is sent
    assert not cloudpods.calls_to("POST", "/cancel-live-migrate")
    time.sleep(0.3)
    driver.cancel(m)
    assert len(cloudpods.calls_to("POST", "/cancel-live-migrate")) == 1
    settled = driver.poll(m, timezone.now())
    assert settled.status == FAILED and settled.host_name == "src"


def test_the_watcher_times_out_a_migration_on_time_and_cancels_it_in_the_background(world, cloudpods):
    cloudpods.next_scenario[world["vm"]] = "hang"
    m = migration()
    m.driver_ref = CloudpodsDriver().start(m, timezone.now())
    Migration.objects.filter(pk=m.pk).update(driver_ref=m.driver_ref, notes={"guest": {"name": "vm"}})
    time.sleep(0.3)  # live_migrating now
    later = timezone.now() + timedelta(hours=1)
    Migration.objects.filter(pk=m.pk).update(deadline_at=later - timedelta(seconds=1))
    report = execution.watch_migrations(now=later)
    assert report.timed_out == 1
    m.refresh_from_db()
    assert m.state == Migration.State.TIMED_OUT and m.guest.host.name == "src"
    # The cancel runs in the background (a hung platform never holds the watcher): wait for it.
    give_up = time.monotonic() + 10
    while not cloudpods.calls_to("POST", "/cancel-live-migrate") and time.monotonic() < give_up:
        time.sleep(0.1)
    assert cloudpods.calls_to("POST", "/cancel-live-migrate")
    assert Event.objects.get(action=Event.Action.MIGRATE_FAIL).summary.startswith("vm (4 vCPU, 4.0 GiB) migration")
