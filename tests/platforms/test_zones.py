"""A host's zone: label is the boundary its guests stay within, unless the rule or the setting says otherwise."""

import pytest

from automigrate.models import Guest, Host
from automigrate.services.rules import create_rule
from automigrate.services.snapshot import build_view

GiB = 1024**3


@pytest.fixture
def zoned(db, settings):
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "METRIC_SOURCE": "database", "PLATFORM": "simulator"}
    hosts = [Host.objects.create(name=n, cpu_count=8, mem_total=64 * GiB, labels=labels)
             for n, labels in (("a1", ["zone:az1", "rack-x"]), ("b1", ["zone:az2"]), ("c1", []))]
    Guest.objects.create(name="g", host=hosts[0], vcpu_count=1, vmem_size=512)
    return hosts


def zones(rule):
    return {h.name: h.zone for h in build_view(rule).snapshot.hosts}


def test_the_zone_label_is_the_hosts_zone(zoned):
    rule = create_rule({"name": "r", "metric": "cpu.usage_active", "threshold": 60, "period": "2m"})
    assert zones(rule) == {"a1": "az1", "b1": "az2", "c1": ""}


def test_a_rule_naming_its_targets_or_same_zone_off_lifts_the_boundary(zoned, settings):
    named = create_rule({"name": "named", "metric": "cpu.usage_active", "threshold": 60, "period": "2m",
                         "target_hosts": [Host.objects.get(name="b1")]})
    assert set(zones(named).values()) == {""}
    settings.AUTOMIGRATE = {**settings.AUTOMIGRATE, "SAME_ZONE": False}
    rule = create_rule({"name": "r", "metric": "cpu.usage_active", "threshold": 60, "period": "2m"})
    assert set(zones(rule).values()) == {""}


def test_sync_replaces_only_the_platforms_own_host_labels(db, settings):
    from automigrate.platforms import InventoryHost, PlatformInventory
    from automigrate.services.inventory import sync_inventory
    from tests.platforms.test_inventory_sync import FakePlatform

    class Zoned(FakePlatform):
        host_label_prefixes = ("zone:", "aggregate:")

    def reading(*labels):
        return PlatformInventory(hosts=[InventoryHost(name="h1", external_id="u1", cpu_count=8, mem_total=GiB,
                                                      labels=labels)])

    zoned, plain = Zoned(), FakePlatform()
    zoned.reading = reading("aggregate:ssd", "zone:az1")
    sync_inventory(zoned)
    Host.objects.filter(name="h1").update(labels=[*Host.objects.get(name="h1").labels, "rack-7"])
    zoned.reading = reading("zone:az2")
    sync_inventory(zoned)
    assert Host.objects.get(name="h1").labels == ["rack-7", "zone:az2"]
    # A platform without zones of its own leaves an admin's zone: label alone.
    plain.reading = reading()
    sync_inventory(plain)
    assert Host.objects.get(name="h1").labels == ["rack-7", "zone:az2"]
