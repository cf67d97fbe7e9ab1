"""The inventory of two real libvirtd hosts: guests on each, mid-migration, unreachable, destroyed."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from django.core.management import call_command

from automigrate.models import Event, Guest, Host
from automigrate.services.inventory import sync_inventory
from automigrate.virt.connection import connected

pytestmark = pytest.mark.django_db


def test_two_hosts_and_their_guests(clean_lab, lab_settings, capsys):
    lab = clean_lab
    h1, h2 = lab.hosts
    a = lab.start_guest(h1.name, "inv-a", 64, "dirty=1")
    lab.start_guest(h2.name, "inv-b", 96, "dirty=1", vcpus=2)
    call_command("inventory", "sync")
    table = capsys.readouterr().out
    assert f"{h1.name}" in table and "inv-a" in table and "new on" in table
    hosts = {h.name: h for h in Host.objects.all()}
    assert hosts[h1.name].external_id == h1.host_uuid and hosts[h2.name].external_id == h2.host_uuid
    with connected(h1.uri) as conn:
        info = conn.getInfo()
    assert hosts[h1.name].cpu_count == info[2] and hosts[h1.name].mem_total == info[1] * 1024 * 1024
    assert hosts[h1.name].host_type == "kvm" and hosts[h1.name].cpu_arch == "x86_64"
    guests = {g.name: g for g in Guest.objects.all()}
    assert (guests["inv-a"].host.name, guests["inv-a"].external_id, guests["inv-a"].vmem_size) == (h1.name, a, 64)
    assert (guests["inv-b"].host.name, guests["inv-b"].vcpu_count, guests["inv-b"].vmem_size) == (h2.name, 2, 96)
    assert all(g.status == Guest.Status.RUNNING for g in guests.values())
    call_command("inventory", "sync")
    assert "nothing changed" in capsys.readouterr().out


def test_a_guest_mid_migration_is_counted_where_it_runs(clean_lab, lab_settings, binding):
    lab = clean_lab
    h1, h2 = lab.hosts
    lab.start_guest(h1.name, "inv-moving", 64, "dirty=2 fill=1")
    sync_inventory()
    flags = binding.VIR_MIGRATE_LIVE | binding.VIR_MIGRATE_PEER2PEER | binding.VIR_MIGRATE_PERSIST_DEST
    params = {binding.VIR_MIGRATE_PARAM_URI: "tcp://127.0.0.1", binding.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: "127.0.0.1",
              binding.VIR_MIGRATE_PARAM_BANDWIDTH: 2}  # 64 MiB at 2 MiB/s: half a minute to catch it
    outcome = {}

    def migrate():
        with connected(h1.uri) as conn:
            try:
                conn.lookupByName("inv-moving").migrateToURI3(h2.uri, params, flags)
            except binding.libvirtError as exc:
                outcome["error"] = exc.get_error_code()

    thread = threading.Thread(target=migrate)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while lab.where("inv-moving") != {h1.name: "running", h2.name: "paused"}:
            assert time.monotonic() < deadline, f"never listed on both hosts: {lab.where('inv-moving')}"
            time.sleep(0.2)
        report = sync_inventory()
        guest = Guest.objects.get(name="inv-moving")
        assert (guest.host.name, guest.status) == (h1.name, Guest.Status.RUNNING)
        assert not [c for c in report.changes if c[1] == "inv-moving" and c[2] != f"new on {h1.name}"]
    finally:
        with connected(h1.uri) as conn:
            for _ in range(40):
                dom = conn.lookupByName("inv-moving")
                if dom.jobStats()["type"] == 0:
                    break
                with contextlib.suppress(binding.libvirtError):
                    dom.abortJob()
                time.sleep(0.25)
        thread.join(30)
    assert outcome.get("error") == 78  # aborted: the test stops it, libvirt says so


def test_an_unreachable_host_is_offline_with_an_event_and_keeps_its_guests(clean_lab, lab_settings):
    lab = clean_lab
    h1, h2 = lab.hosts
    lab.start_guest(h1.name, "inv-kept", 64, "dirty=1")
    sync_inventory()
    # lab-h1 stops answering (its URI now points at a closed port); lab-h2 still does.
    lab_settings.AUTOMIGRATE = {
        **lab_settings.AUTOMIGRATE,
        "LIBVIRT_HOSTS": f"{h1.name}=qemu+tcp://127.0.0.1:1/system,{h2.name}={h2.uri}",
    }
    report = sync_inventory()
    host = Host.objects.get(name=h1.name)
    assert host.status == Host.Status.OFFLINE and not host.accepts_guests
    event = Event.objects.filter(action=Event.Action.INVENTORY, source_host=host).latest("pk")
    assert event.summary.startswith(f"host {h1.name} is offline: did not answer: reading {h1.name}: host unreachable")
    assert "(libvirt code 38)" in event.summary
    kept = Guest.objects.get(name="inv-kept")
    assert (kept.host.name, kept.status) == (h1.name, Guest.Status.RUNNING)
    assert ("host", h1.name) in {(k, n) for k, n, _ in report.changes}
    lab_settings.AUTOMIGRATE = {**lab_settings.AUTOMIGRATE, "LIBVIRT_HOSTS": lab.env()["AUTOMIGRATE_LIBVIRT_HOSTS"]}
    sync_inventory()
    assert Host.objects.get(name=h1.name).status == Host.Status.ONLINE


def test_a_guest_destroyed_between_two_syncs_is_gone_and_keeps_its_history(clean_lab, lab_settings):
    lab = clean_lab
    h1, _ = lab.hosts
    lab.start_guest(h1.name, "inv-doomed", 64, "dirty=1", persistent=False)
    lab.start_guest(h1.name, "inv-stays", 64, "dirty=1")
    sync_inventory()
    doomed = Guest.objects.get(name="inv-doomed")
    with connected(h1.uri) as conn:
        conn.lookupByName("inv-doomed").destroy()  # transient: destroyed means gone from libvirt
    report = sync_inventory()
    doomed.refresh_from_db()
    assert doomed.status == Guest.Status.GONE
    assert ("guest", "inv-doomed", "gone") in report.changes
    assert Guest.objects.get(name="inv-stays").status == Guest.Status.RUNNING
    assert Event.objects.filter(action=Event.Action.INVENTORY, summary__contains="inv-doomed").exists()
