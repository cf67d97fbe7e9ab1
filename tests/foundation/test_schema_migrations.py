"""Issue 10's migrations on existing data: event names filled in, bad rows fixed or refused clearly."""

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("automigrate", "0004_keep_migration_history")]
NAMES = [("automigrate", "0005_event_names")]
CONSTRAINTS = [("automigrate", "0006_schema_constraints")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema():
    """The database as before issue 10; put back to the newest schema afterwards, whatever happens."""
    apps = _migrate(BEFORE)
    try:
        yield apps
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_events_get_names_and_bad_hosts_are_fixed(old_schema):
    Host, Guest, Event = (old_schema.get_model("automigrate", m) for m in ("Host", "Guest", "Event"))
    a15 = Host.objects.create(name="a15", cpu_count=8, mem_total=64 * 1024**3)
    unknown = Host.objects.create(name="auto-1", cpu_count=1, mem_total=0, enabled=True)
    vm1 = Guest.objects.create(name="vm1", host=a15, vcpu_count=2, vmem_size=2048)
    live = Event.objects.create(action="migrating", summary="s", guest_id=vm1.pk, source_host_id=a15.pk)
    # A guest deleted before 0005: the old SET_NULL left only the notes.
    gone = Event.objects.create(action="migrate_success", summary="s", guest_id=None,
                                notes={"guest": {"id": "x", "name": "vm-gone"}, "target_host": {"name": "c30"}})

    apps = _migrate(CONSTRAINTS)
    Event, Host = apps.get_model("automigrate", "Event"), apps.get_model("automigrate", "Host")
    live, gone = Event.objects.get(pk=live.pk), Event.objects.get(pk=gone.pk)
    assert (live.guest_name, live.source_host_name, live.target_host_name) == ("vm1", "a15", "")
    assert (gone.guest_name, gone.target_host_name) == ("vm-gone", "c30")
    fixed = Host.objects.get(pk=unknown.pk)
    assert (fixed.cpu_count, fixed.mem_total, fixed.enabled) == (1, 1024**5, False)


def test_a_rule_out_of_range_stops_the_migration_naming_it(old_schema):
    Rule = old_schema.get_model("automigrate", "MigrationRule")
    Rule.objects.create(name="negative", metric="cpu.usage_active", threshold=-5, period_seconds=60)
    with pytest.raises(RuntimeError, match=re.escape("rule negative: cpu.usage_active threshold -5, period 60s")):
        _migrate(CONSTRAINTS)
    # 0005 went through; fixing the rule lets 0006 through too.
    apps = _migrate(NAMES)
    apps.get_model("automigrate", "MigrationRule").objects.filter(name="negative").update(threshold=50)
    _migrate(CONSTRAINTS)
