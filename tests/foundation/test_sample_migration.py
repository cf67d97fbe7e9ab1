"""Migration 0012 (issue 17) on existing samples: every one kept, one row per key, and back again."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("automigrate", "0011_scale_indexes")]
AFTER = [("automigrate", "0012_sample_partitions")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema():
    apps = _migrate(BEFORE)
    try:
        yield apps
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_samples_are_kept_and_a_repeated_key_keeps_its_last_value(old_schema):
    Host, Guest = old_schema.get_model("automigrate", "Host"), old_schema.get_model("automigrate", "Guest")
    HostSample, GuestSample = (old_schema.get_model("automigrate", m) for m in ("HostSample", "GuestSample"))
    host = Host.objects.create(name="h1", cpu_count=8, mem_total=64 * 1024**3)
    guest = Guest.objects.create(name="g1", host=host, vcpu_count=1, vmem_size=512)
    now = timezone.now().replace(microsecond=0)
    days_ago = now - timedelta(days=3)  # older than any partition a fresh database has
    HostSample.objects.create(host=host, metric="cpu.usage_active", time=days_ago, value=1)
    HostSample.objects.create(host=host, metric="cpu.usage_active", time=days_ago, value=2)  # same key, later
    HostSample.objects.create(host=host, metric="mem.available", time=now, value=3)
    GuestSample.objects.create(guest=guest, time=days_ago, cpu=4)
    GuestSample.objects.create(guest=guest, time=now, cpu=5)

    apps = _migrate(AFTER)

    HostSample, GuestSample = (apps.get_model("automigrate", m) for m in ("HostSample", "GuestSample"))
    assert sorted(HostSample.objects.values_list("metric", "time", "value")) == [
        ("cpu.usage_active", days_ago, 2.0), ("mem.available", now, 3.0)]
    assert sorted(GuestSample.objects.values_list("time", "cpu")) == [(days_ago, 4.0), (now, 5.0)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT relname FROM pg_class c JOIN pg_partitioned_table p ON p.partrelid = c.oid")
            partitioned = {name for (name,) in cursor.fetchall()}
            cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM automigrate_hostsample")
            holding = {name for (name,) in cursor.fetchall()}
        assert {"automigrate_hostsample", "automigrate_guestsample", "automigrate_hostrollup1m",
                "automigrate_guestrollup5m"} <= partitioned
        assert holding == {f"automigrate_hostsample_p{days_ago:%Y%m%d}", f"automigrate_hostsample_p{now:%Y%m%d}"}

    # And back: the old tables, with ids, hold the same samples.
    apps = _migrate(BEFORE)
    HostSample = apps.get_model("automigrate", "HostSample")
    assert sorted(HostSample.objects.values_list("metric", "time", "value")) == [
        ("cpu.usage_active", days_ago, 2.0), ("mem.available", now, 3.0)]
    assert all(pk is not None for pk in HostSample.objects.values_list("id", flat=True))
