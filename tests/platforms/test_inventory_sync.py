"""The one inventory sync path shared by every platform: create, update, offline, gone."""

import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from automigrate.models import Event, Guest, Host, Migration
from automigrate.platforms import (
    InventoryGuest,
    InventoryHost,
    Platform,
    PlatformError,
    PlatformInventory,
    platform_class,
)
from automigrate.services.inventory import sync_inventory

GiB = 1024**3


class FakePlatform(Platform):
    """A platform whose reading is whatever the test says it is."""

    name = "fake"
    driver = "automigrate.drivers.simulator.SimulatorDriver"
    reading: PlatformInventory | Exception | float = PlatformInventory()

    def read_inventory(self) -> PlatformInventory:
        if isinstance(self.reading, Exception):
            raise self.reading
        if isinstance(self.reading, float):
            time.sleep(self.reading)
            return PlatformInventory()
        return self.reading


def host(n, **kw):
    return InventoryHost(name=f"h{n}", external_id=f"uuid-h{n}", cpu_count=8, mem_total=32 * GiB, **kw)


def guest(name, on, **kw):
    return InventoryGuest(name=name, external_id=f"uuid-{name}", host_external_id=f"uuid-h{on}",
                          vcpu_count=kw.pop("vcpu_count", 2), vmem_size=kw.pop("vmem_size", 1024), **kw)


@pytest.fixture
def platform(settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "PLATFORM": "tests.platforms.test_inventory_sync.FakePlatform"}
    # The class the settings name (pytest may have imported this file under another module name).
    fake = platform_class()
    fake.reading = PlatformInventory(hosts=[host(1), host(2)], guests=[guest("a", 1), guest("b", 2)])
    yield fake
    fake.reading = PlatformInventory()


@pytest.mark.django_db
def test_it_creates_hosts_and_guests_from_the_platform(platform):
    report = sync_inventory()
    assert not report.error
    assert set(Host.objects.values_list("name", "external_id")) == {("h1", "uuid-h1"), ("h2", "uuid-h2")}
    a = Guest.objects.get(name="a")
    assert (a.host.name, a.external_id, a.vcpu_count, a.vmem_size) == ("h1", "uuid-a", 2, 1024)
    assert ("guest", "a", "new on h1") in report.changes


@pytest.mark.django_db
def test_a_second_sync_with_nothing_new_changes_nothing(platform):
    sync_inventory()
    events = Event.objects.count()
    assert sync_inventory().changes == []
    assert Event.objects.count() == events


@pytest.mark.django_db
def test_it_follows_a_guest_that_moved_and_a_resized_host(platform):
    sync_inventory()
    platform.reading = PlatformInventory(
        hosts=[host(1), InventoryHost(name="h2", external_id="uuid-h2", cpu_count=16, mem_total=64 * GiB)],
        guests=[guest("a", 2), guest("b", 2, vcpu_count=4)],
    )
    report = sync_inventory()
    assert Guest.objects.get(name="a").host.name == "h2"
    assert Guest.objects.get(name="b").vcpu_count == 4
    assert Host.objects.get(name="h2").cpu_count == 16
    assert ("guest", "a", "h1 → h2") in report.changes


@pytest.mark.django_db
def test_an_unreachable_host_goes_offline_and_keeps_its_guests(platform):
    sync_inventory()
    platform.reading = PlatformInventory(hosts=[host(1)], guests=[guest("a", 1)],
                                         unreachable={"uuid-h2": "connection refused"})
    sync_inventory()
    h2 = Host.objects.get(name="h2")
    assert h2.status == Host.Status.OFFLINE and not h2.accepts_guests
    b = Guest.objects.get(name="b")
    assert (b.host.name, b.status) == ("h2", Guest.Status.RUNNING)
    event = Event.objects.filter(action=Event.Action.INVENTORY, source_host=h2).get()
    assert "connection refused" in event.summary
    # It answers again: back online, one more event, guests untouched.
    platform.reading = PlatformInventory(hosts=[host(1), host(2)], guests=[guest("a", 1), guest("b", 2)])
    sync_inventory()
    assert Host.objects.get(name="h2").status == Host.Status.ONLINE


@pytest.mark.django_db
def test_maintenance_is_the_admins_and_survives_a_sync(platform):
    sync_inventory()
    Host.objects.filter(name="h1").update(status=Host.Status.MAINTENANCE)
    sync_inventory()
    assert Host.objects.get(name="h1").status == Host.Status.MAINTENANCE


@pytest.mark.django_db
def test_a_vanished_guest_is_gone_with_its_history_kept(platform):
    sync_inventory()
    a = Guest.objects.get(name="a")
    Migration.objects.create(guest=a, source=a.host, target=Host.objects.get(name="h2"), state="succeeded")
    platform.reading = PlatformInventory(hosts=[host(1), host(2)], guests=[guest("b", 2)])
    report = sync_inventory()
    a.refresh_from_db()
    assert a.status == Guest.Status.GONE
    assert a.migrations.count() == 1
    assert ("guest", "a", "gone") in report.changes
    # A new VM of the same name later: the old row keeps its history under a freed name.
    platform.reading = PlatformInventory(
        hosts=[host(1), host(2)],
        guests=[
            InventoryGuest(name="a", external_id="uuid-a2", host_external_id="uuid-h1", vcpu_count=1, vmem_size=512),
            guest("b", 2),
        ],
    )
    sync_inventory()
    assert Guest.objects.get(external_id="uuid-a2").name == "a"
    assert Guest.objects.get(pk=a.pk).name.startswith("a (gone #")


@pytest.mark.django_db
def test_a_guest_in_flight_keeps_the_status_execution_gave_it(platform):
    sync_inventory()
    a = Guest.objects.get(name="a")
    Guest.objects.filter(pk=a.pk).update(status=Guest.Status.MIGRATING)
    Migration.objects.create(guest=a, source=a.host, target=Host.objects.get(name="h2"), state="migrating")
    platform.reading = PlatformInventory(hosts=[host(1), host(2)], guests=[guest("b", 2)])
    sync_inventory()
    assert Guest.objects.get(pk=a.pk).status == Guest.Status.MIGRATING


@pytest.mark.django_db
def test_a_platform_that_fails_or_hangs_leaves_the_database_as_it_was(platform, settings):
    sync_inventory()
    platform.reading = PlatformError("Keystone refused the password")
    report = sync_inventory()
    assert "Keystone refused the password" in report.error
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "INVENTORY_TIMEOUT_SECONDS": 0.2}
    platform.reading = 5.0
    started = time.monotonic()
    report = sync_inventory()
    assert time.monotonic() - started < 2
    assert "did not answer in 0.2 s" in report.error
    assert Guest.objects.filter(status=Guest.Status.RUNNING).count() == 2


@pytest.mark.django_db
def test_the_command_prints_a_table_and_fails_in_one_line(platform, capsys):
    call_command("inventory", "sync")
    out = capsys.readouterr().out
    assert "KIND" in out and "new on h1" in out
    platform.reading = PlatformError("no route to host")
    with pytest.raises(CommandError, match="no route to host"):
        call_command("inventory", "sync")


@pytest.mark.django_db
def test_the_simulator_has_no_inventory_to_sync():
    report = sync_inventory()
    assert report.skipped and not report.changes
