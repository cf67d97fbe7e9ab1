"""Real live migrations between two libvirtd on this machine: rules, driver, failures, a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from automigrate.models import Event, Guest, Host, HostSample, Migration
from automigrate.services import evaluate, lock
from automigrate.services.inventory import sync_inventory
from automigrate.services.libvirt_samples import collect_samples
from automigrate.services.metrics import host_means
from automigrate.virt.connection import connected
from tests.virt.helpers import (
    last_tick,
    rule,
    start_move,
    virsh_list,
    wait_for_tick_after,
    watch_until_done,
)

REPO = settings.BASE_DIR


def _line_protocol(host_cpu: dict[str, float], guest_cpu: dict[str, float], seconds: int = 120) -> str:
    now = int(time.time())
    lines = []
    for offset in range(0, seconds, 10):
        at = now - offset
        lines += [f"cpu,cpu=cpu-total,host={h} usage_active={v} {at}" for h, v in host_cpu.items()]
        lines += [f"mem,host={h} available={2 * 1024**3}i {at}" for h in host_cpu]
        lines += [f"vm_cpu,vm_id={g} usage_active={v} {at}" for g, v in guest_cpu.items()]
    return "\n".join(lines)


def _assert_moved(lab, name: str, source: str, target: str, tick_before: int) -> None:
    """The guest really runs on the target now, not on the source, and its counter went on."""
    assert name in virsh_list(lab.uri(target))
    assert name not in virsh_list(lab.uri(source))
    assert lab.where(name) == {target: "running"}
    wait_for_tick_after(lab.serial_log(name), tick_before)


@pytest.mark.django_db
def test_pushed_samples_fire_a_rule_and_a_real_guest_moves(clean_lab, lab_settings, client, operator):
    lab = clean_lab
    h1, h2 = lab.hosts
    for name in ("e2e-busy", "e2e-calm"):
        lab.start_guest(h1.name, name, 64, "dirty=4 fill=1")
    lab.start_guest(h2.name, "e2e-other", 64, "dirty=1")
    sync_inventory()
    # Telegraf's shapes through /write: lab-h1 is hot, e2e-busy is what makes it so.
    body = _line_protocol({h1.name: 80.0, h2.name: 2.0}, {"e2e-busy": 90.0, "e2e-calm": 5.0, "e2e-other": 2.0})
    token = Token.objects.create(user=operator).key  # as telegraf authenticates
    response = client.generic("POST", "/write?db=telegraf&precision=s", body, content_type="text/plain",
                              HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 204, response.content
    wait_for_tick_after(lab.serial_log("e2e-busy"), 0)
    tick_before = last_tick(lab.serial_log("e2e-busy"))

    evaluation = evaluate.evaluate_rule(rule(threshold=60))
    assert evaluation.result == "migrating", evaluation.summary
    migration = Migration.objects.get()
    assert migration.guest.name == "e2e-busy" and migration.driver_ref.startswith("libvirt:")
    assert Event.objects.filter(action=Event.Action.MIGRATING, migration=migration).exists()

    migration = watch_until_done(migration.pk)
    assert migration.state == Migration.State.SUCCEEDED, migration.error
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS, migration=migration).exists()
    guest = Guest.objects.get(name="e2e-busy")
    assert (guest.host.name, guest.status) == (h2.name, Guest.Status.RUNNING)
    _assert_moved(lab, "e2e-busy", h1.name, h2.name, tick_before)
    assert lock.holder_batch_id() is None
    # The inventory agrees with the watcher.
    sync_inventory()
    assert Guest.objects.get(name="e2e-busy").host.name == h2.name


@pytest.mark.django_db
def test_the_libvirt_metric_source_fires_a_rule_and_a_real_guest_moves(clean_lab, lab_settings):
    lab = clean_lab
    h1, h2 = lab.hosts
    lab_settings.AUTOMIGRATE = {**lab_settings.AUTOMIGRATE, "METRIC_SOURCE": "libvirt", "LIBVIRT_HOST_CPU": "guests"}
    lab.start_guest(h1.name, "src-warm-1", 64, "load=30")
    lab.start_guest(h1.name, "src-warm-2", 64, "load=30")
    sync_inventory()
    for _ in range(4):  # what beat does every AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS
        report = collect_samples()
        assert not report.unreachable
        time.sleep(2)
    means = host_means(60, timezone.now())
    hot, calm = Host.objects.get(name=h1.name), Host.objects.get(name=h2.name)
    cpu = means[hot.pk]["cpu.usage_active"]
    # Whatever this machine could give the two guests, lab-h1 is clearly busier than the idle lab-h2.
    assert cpu > 5 and means[calm.pk]["cpu.usage_active"] < cpu / 4, means
    assert HostSample.objects.filter(host=hot, metric="mem.available").exists()
    tick_before = last_tick(lab.serial_log("src-warm-1"))

    # A threshold between the host's load and half of it: moving one of the two warm guests cures it.
    evaluation = evaluate.evaluate_rule(rule(threshold=round(cpu * 0.75, 2), period="1m"))
    assert evaluation.result == "migrating", evaluation.summary
    migration = Migration.objects.get()
    migration = watch_until_done(migration.pk)
    assert migration.state == Migration.State.SUCCEEDED, migration.error
    moved = migration.guest.name
    _assert_moved(lab, moved, h1.name, h2.name, tick_before if moved == "src-warm-1" else -1)
    assert lock.holder_batch_id() is None


@pytest.mark.django_db
@pytest.mark.parametrize("broken", ["destination host", "migration address"])
def test_an_unreachable_destination_is_a_migrate_error(clean_lab, lab_settings, broken):
    lab = clean_lab
    h1, h2 = lab.hosts
    lab.start_guest(h1.name, "err-vm", 64, "dirty=1")
    sync_inventory()
    if broken == "destination host":
        # lab-h2's libvirtd cannot be reached any more (after the inventory last saw it).
        hosts = f"{h1.name}={h1.uri},{h2.name}=qemu+tcp://127.0.0.1:1/system"
        lab_settings.AUTOMIGRATE = {**lab_settings.AUTOMIGRATE, "LIBVIRT_HOSTS": hosts}
        expected = [f"destination {h2.name} unreachable: host unreachable", "(libvirt code 38)"]
    else:
        # lab-h2 answers, but the memory stream is sent to an address no host has (TEST-NET-1).
        lab_settings.AUTOMIGRATE = {**lab_settings.AUTOMIGRATE, "LIBVIRT_MIGRATION_HOST": "192.0.2.1"}
        expected = ["migration: ", "Failed to bind socket: Cannot assign requested address (libvirt code 1)"]
    started = start_move(rule(), "err-vm", h1.name, h2.name)
    migration = Migration.objects.get()
    action = Event.Action.MIGRATE_ERROR
    if broken == "migration address" and migration.state == Migration.State.MIGRATING:
        # Refused in set-up, but this busy machine took longer than the start's confirmation window.
        migration, action = watch_until_done(migration.pk), Event.Action.MIGRATE_FAIL
    assert migration.state == Migration.State.FAILED, migration.state
    event = Event.objects.get(action=action, migration=migration)
    for part in expected:
        assert part in migration.error and part in event.summary, migration.error
    assert "\n" not in migration.error
    assert started.batch is not None and lock.holder_batch_id() is None
    assert lab.where("err-vm") == {h1.name: "running"}
    assert Guest.objects.get(name="err-vm").host.name == h1.name


@pytest.mark.django_db
def test_a_migration_that_cannot_converge_times_out_and_is_aborted(clean_lab, lab_settings):
    lab = clean_lab
    h1, h2 = lab.hosts
    # 64 pages every 10 ms: ~25 MiB/s of dirty memory through a 1 MiB/s cap, and no auto-converge.
    lab_settings.AUTOMIGRATE = {
        **lab_settings.AUTOMIGRATE, "LIBVIRT_BANDWIDTH_MIB_S": 1, "LIBVIRT_AUTO_CONVERGE": False,
        "MIGRATION_TIMEOUT_BASE_SECONDS": 8, "MIGRATION_TIMEOUT_SECONDS_PER_GIB": 0,
    }
    lab.start_guest(h1.name, "slow-vm", 64, "dirty=64 fill=1")
    sync_inventory()
    start_move(rule(), "slow-vm", h1.name, h2.name)
    migration = Migration.objects.get()
    assert migration.state == Migration.State.MIGRATING, migration.error
    with connected(h1.uri) as conn:
        assert conn.lookupByName("slow-vm").jobStats()["type"] != 0  # libvirt really copies
    tick_before = last_tick(lab.serial_log("slow-vm"))
    migration = watch_until_done(migration.pk, seconds=60)
    assert migration.state == Migration.State.TIMED_OUT, (migration.state, migration.error)
    assert migration.progress is not None and 0 <= migration.progress < 1
    event = Event.objects.get(action=Event.Action.MIGRATE_FAIL, migration=migration)
    assert "timed out" in event.summary
    # The abort is sent in the background (the watcher never waits for a driver): give it its bound.
    aborted_by = time.monotonic() + float(lab_settings.AUTOMIGRATE["DRIVER_CANCEL_TIMEOUT_SECONDS"]) + 5
    with connected(h1.uri) as conn:
        dom = conn.lookupByName("slow-vm")
        while dom.jobStats()["type"] != 0 and time.monotonic() < aborted_by:
            time.sleep(0.2)
        assert dom.jobStats()["type"] == 0 and dom.state()[0] == 1
    assert lab.where("slow-vm") == {h1.name: "running"}
    wait_for_tick_after(lab.serial_log("slow-vm"), tick_before)
    guest = Guest.objects.get(name="slow-vm")
    assert (guest.host.name, guest.status) == (h1.name, Guest.Status.RUNNING)
    assert lock.holder_batch_id() is None


WORKER = """
import os, sys, time
import django
django.setup()
from automigrate.models import MigrationRule
from tests.virt.helpers import start_move
started = start_move(MigrationRule.objects.get(name="killed"), "kill-vm", sys.argv[1], sys.argv[2])
print("started", started.started, flush=True)
time.sleep(600)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_migration_still_gets_its_outcome_recorded(clean_lab, lab_settings, tmp_path):
    lab = clean_lab
    h1, h2 = lab.hosts
    lab.start_guest(h1.name, "kill-vm", 64, "dirty=2 fill=1")
    sync_inventory()
    rule(name="killed")
    env = {
        **os.environ, **lab.env(), "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "automigrate.settings",
        "AUTOMIGRATE_METRIC_SOURCE": "database", "AUTOMIGRATE_VAR_DIR": str(tmp_path),
        # 64 MiB at 8 MiB/s: the migration lasts several seconds after the worker dies.
        "AUTOMIGRATE_LIBVIRT_BANDWIDTH_MIB_S": "8", "AUTOMIGRATE_LIBVIRT_NOTIFY_WATCHER": "0",
    }
    worker = subprocess.Popen([sys.executable, "-c", WORKER, h1.name, h2.name], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = worker.stdout.readline()
        assert line.strip() == "started 1", (line, worker.stderr.read() if worker.poll() is not None else "")
        migration = Migration.objects.get()
        assert migration.state == Migration.State.MIGRATING
        with connected(h1.uri) as conn:
            assert conn.lookupByName("kill-vm").jobStats()["type"] != 0
        tick_before = last_tick(lab.serial_log("kill-vm"))
        os.kill(worker.pid, signal.SIGKILL)  # the worker dies with its migrate call in flight
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    # The source's libvirtd carries on without its client; a new watcher (this process) sees the end.
    migration = watch_until_done(migration.pk)
    assert migration.state == Migration.State.SUCCEEDED, migration.error
    assert Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS, migration=migration).count() == 1
    _assert_moved(lab, "kill-vm", h1.name, h2.name, tick_before)
    assert Guest.objects.get(name="kill-vm").host.name == h2.name
    assert lock.holder_batch_id() is None
    assert migration.finished_at - migration.started_at < timedelta(minutes=2)
