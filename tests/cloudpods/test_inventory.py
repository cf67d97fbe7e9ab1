"""Cloudpods' hosts and servers through the one shared inventory sync path."""

import pytest
from django.core import checks
from django.core.management import call_command

from automigrate.models import Event, Guest, Host
from automigrate.services.inventory import sync_inventory
from tests.cloudpods.conftest import point_at

GiB = 1024**3


@pytest.fixture
def cluster(cloudpods):
    ids = {
        "h1": cloudpods.add_host("h1", cpu_count=40, mem_size=256 * 1024),
        "h2": cloudpods.add_host("h2", cpu_count=64, mem_size=512 * 1024, cpu_architecture="aarch64"),
        "esxi": cloudpods.add_host("esxi-1", host_type="esxi"),
        "off": cloudpods.add_host("h-off", host_status="offline"),
        "disabled": cloudpods.add_host("h-disabled", enabled=False),
    }
    ids["vm"] = cloudpods.add_server("vm", ids["h1"], vcpu_count=8, vmem_size=8192)
    ids["stopped"] = cloudpods.add_server("stopped", ids["h1"], status="ready")
    ids["vmware"] = cloudpods.add_server("vmware", ids["esxi"], hypervisor="esxi")
    ids["held"] = cloudpods.add_server("held", ids["disabled"])
    ids["other"] = cloudpods.add_server("other-project", ids["h2"], project_id="p2")
    return ids


def test_hosts_and_servers_come_with_their_cloudpods_ids_and_units(cluster):
    report = sync_inventory()
    assert not report.error
    h1 = Host.objects.get(name="h1")
    assert (h1.external_id, h1.cpu_count, h1.mem_total, h1.host_type) == (cluster["h1"], 40, 256 * GiB, "kvm")
    assert Host.objects.get(name="h2").cpu_arch == "aarch64"
    assert Host.objects.get(name="esxi-1").host_type == "esxi"  # never a target for KVM guests
    vm = Guest.objects.get(name="vm")
    assert (vm.external_id, vm.host, vm.vcpu_count, vm.vmem_size, vm.status) == (cluster["vm"], h1, 8, 8192, "running")
    assert Guest.objects.get(name="other-project").host.name == "h2"  # scope=system


def test_what_cannot_be_live_migrated_is_kept_visible_and_never_moved(cluster):
    sync_inventory()
    assert Guest.objects.get(name="stopped").status == Guest.Status.STOPPED
    assert Guest.objects.get(name="vmware").labels == ["never-migrate"]
    assert Guest.objects.get(name="vmware").is_pinned


def test_disabled_and_offline_hosts_are_neither_source_nor_target(cluster, cloudpods):
    sync_inventory()
    disabled = Host.objects.get(name="h-disabled")
    assert not disabled.enabled and not disabled.accepts_guests
    # Its running server is kept but not a candidate (only running guests are).
    assert Guest.objects.get(name="held").status == Guest.Status.UNKNOWN
    assert not Host.objects.filter(name="h-off").exists()  # never answered: not created
    cloudpods.hosts[cluster["off"]]["host_status"] = "online"
    sync_inventory()
    assert Host.objects.get(name="h-off").status == Host.Status.ONLINE
    cloudpods.hosts[cluster["off"]]["host_status"] = "offline"
    report = sync_inventory()
    assert Host.objects.get(name="h-off").status == Host.Status.OFFLINE
    assert ("host", "h-off", "offline: did not answer: host_status is offline in Cloudpods") in report.changes
    cloudpods.hosts[cluster["disabled"]]["enabled"] = True
    sync_inventory()
    assert Guest.objects.get(name="held").status == Guest.Status.RUNNING


def test_a_server_that_moved_or_vanished_is_followed(cluster, cloudpods):
    sync_inventory()
    cloudpods.servers[cluster["vm"]]["host_id"] = cluster["h2"]
    del cloudpods.servers[cluster["stopped"]]
    sync_inventory()
    assert Guest.objects.get(name="vm").host.name == "h2"
    assert Guest.objects.get(name="stopped").status == Guest.Status.GONE


def test_a_list_that_changes_while_it_is_read_leaves_the_database_alone(cloudpods):
    h = cloudpods.add_host("h1")
    for n in range(25):
        cloudpods.add_server(f"vm{n:02d}", h)
    sync_inventory()
    original = cloudpods._page

    def shifting(plural, items, query):
        if plural == "servers" and int(query.get("offset", 0)) == 20:
            cloudpods.add_server(f"new-{len(cloudpods.servers)}", h)  # appears between the pages
            items = list(cloudpods.servers.values())
        return original(plural, items, query)

    cloudpods._page = shifting
    report = sync_inventory()
    assert "the list changed while it was read" in report.error
    assert Guest.objects.exclude(status=Guest.Status.GONE).count() == 25


def test_a_wrong_password_is_one_event_and_a_system_check_error(cloudpods, settings):
    cloudpods.add_host("h1")
    point_at(settings, cloudpods, PASSWORD="wrong")
    for _ in range(3):  # beat syncs every minute: still one event
        report = sync_inventory()
    assert "Keystone refused user 'admin'" in report.error and "WrongPassword" in report.error
    (event,) = Event.objects.filter(action=Event.Action.INVENTORY)
    assert event.summary.startswith("cloudpods: inventory not read: Keystone refused user 'admin'")
    errors = [m for m in checks.run_checks() if m.id == "automigrate.E004"]
    assert len(errors) == 1 and "WrongPassword" in errors[0].msg
    # The password fixed: the stored failure belongs to the old settings, the check is clean at once.
    point_at(settings, cloudpods)
    assert not [m for m in checks.run_checks() if m.id.startswith("automigrate.E")]
    sync_inventory()
    assert Event.objects.filter(action=Event.Action.INVENTORY, notes__read="ok").count() == 1


def test_an_unreachable_keystone_is_one_event_and_a_check_warning(cloudpods, settings):
    point_at(settings, cloudpods, AUTH_URL="http://127.0.0.1:9/v3", TIMEOUT_SECONDS=1)
    sync_inventory()
    sync_inventory()
    (event,) = Event.objects.filter(action=Event.Action.INVENTORY)
    assert "cannot connect (Connection refused)" in event.summary
    (warning,) = [m for m in checks.run_checks() if m.id == "automigrate.W004"]
    assert "did not answer" in warning.msg


def test_missing_settings_are_a_system_check_error(settings, db):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "cloudpods",
                            "CLOUDPODS": {**settings.AUTOMIGRATE["CLOUDPODS"], "AUTH_URL": "", "USERNAME": "admin",
                                          "PASSWORD": ""}}
    (error,) = [m for m in checks.run_checks() if m.id == "automigrate.E004"]
    assert error.msg == ("AUTOMIGRATE_PLATFORM=cloudpods needs AUTOMIGRATE_CLOUDPODS_AUTH_URL,"
                         " AUTOMIGRATE_CLOUDPODS_PASSWORD")


def test_the_inventory_command_reads_cloudpods(cluster, capsys):
    call_command("inventory", "sync")
    out = capsys.readouterr().out
    assert "new on h1" in out and "change(s) from cloudpods" in out
