"""Samples from libvirt: host CPU and memory, guest CPU, stored like pushed samples.

- host ``cpu.usage_active``: busy % between two ``getCPUStats(-1)`` readings; or, with
  AUTOMIGRATE_LIBVIRT_HOST_CPU=guests, the sum of its guests' CPU demand over its CPUs
  (for "hosts" that share one machine, as in the lab, or whose host counters are
  unavailable);
- host ``mem.available``: free + buffers + cached from ``getMemoryStats(-1)``;
- guest CPU: % of its own vCPUs from ``cpu.time`` deltas (running copies only: during a
  migration the destination's paused copy is another QEMU process).

Rates need the previous reading, which may have been taken by another process: the
counters of each host are kept in SourceCounters. The first reading of a host stores
its counters and memory only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, GuestSample, Host, HostSample, SourceCounters
from automigrate.platforms.libvirt import read_all
from automigrate.services import storage
from automigrate.virt.config import conf
from automigrate.virt.readings import RUNNING, HostReading, available_bytes, guest_cpu_percent, host_cpu_percent

HOST_FIELDS = ("host", "metric", "time", "value")
GUEST_FIELDS = ("guest", "time", "cpu")

KEY_PREFIX = "libvirt:"


@dataclass
class SampleReport:
    host_samples: int = 0
    guest_samples: int = 0
    unreachable: dict[str, str] = field(default_factory=dict)
    unknown_hosts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"libvirt: {self.host_samples} host and {self.guest_samples} guest samples"
        if self.unknown_hosts:
            text += f"; not in the inventory yet: {', '.join(self.unknown_hosts)}"
        if self.unreachable:
            text += "; " + "; ".join(self.unreachable.values())
        return text


def collect_samples(now: datetime | None = None) -> SampleReport:
    now = now or timezone.now()
    readings, failed = read_all(counters=True)
    report = SampleReport(unreachable=failed)
    hosts = {h.external_id: h for h in Host.objects.filter(external_id__in=[r.uuid for r in readings])}
    if len(hosts) < len(readings):
        # Hosts the inventory has not seen yet: sync once, so the very first samples are not lost.
        from automigrate.services.inventory import sync_inventory

        sync_inventory()
        hosts = {h.external_id: h for h in Host.objects.filter(external_id__in=[r.uuid for r in readings])}
    uuids = [g.uuid for r in readings for g in r.guests]
    guests = {g.external_id: g for g in Guest.objects.filter(external_id__in=uuids)}
    previous = {c.key: c for c in SourceCounters.objects.filter(key__in=[KEY_PREFIX + r.uuid for r in readings])}
    host_rows: list[HostSample] = []
    guest_rows: list[GuestSample] = []
    with transaction.atomic():
        for reading in readings:
            host = hosts.get(reading.uuid)
            if host is None:
                report.unknown_hosts.append(reading.name)
                continue
            before = previous.get(KEY_PREFIX + reading.uuid)
            _host_samples(reading, host, before, guests, now, host_rows, guest_rows)
            SourceCounters.objects.update_or_create(
                key=KEY_PREFIX + reading.uuid,
                defaults={"taken_at": reading.taken_at, "values": _counters(reading)},
            )
        storage.write_samples(HostSample, HOST_FIELDS, [(r.host_id, r.metric, r.time, r.value) for r in host_rows])
        storage.write_samples(GuestSample, GUEST_FIELDS, [(r.guest_id, r.time, r.cpu) for r in guest_rows])
    report.host_samples, report.guest_samples = len(host_rows), len(guest_rows)
    return report


def _counters(reading: HostReading) -> dict:
    return {
        "cpu": reading.cpu_stats or {},
        "guests": {g.uuid: g.cpu_time_ns for g in reading.guests if g.state == RUNNING and g.cpu_time_ns is not None},
    }


def _host_samples(
    reading: HostReading, host: Host, before: SourceCounters | None, guests: dict[str, Guest], now: datetime,
    host_rows: list[HostSample], guest_rows: list[GuestSample],
) -> None:
    available = available_bytes(reading.memory_stats or {})
    if available is not None and host.mem_total > 0:
        # getInfo()'s memory (the host's mem_total) can be less than the kernel's free + buffers +
        # cached (seen: 12,761 MiB against 22.8 GiB free on a 24 GiB machine). A value above the total
        # is refused by every window mean (in_range) and would leave the host with no memory reading,
        # so no target: all of its memory is available, no more.
        available = min(available, host.mem_total)
    if available is not None:
        host_rows.append(HostSample(host=host, metric=MEM, time=now, value=float(available)))
    if before is None:
        return
    seconds = reading.taken_at - before.taken_at
    demand = 0.0  # CPUs' worth of work the host's guests did
    previous_guests = before.values.get("guests", {})
    for item in reading.guests:
        if item.state != RUNNING or item.cpu_time_ns is None or item.uuid not in previous_guests:
            continue
        percent = guest_cpu_percent(previous_guests[item.uuid], item.cpu_time_ns, seconds, item.vcpus)
        if percent is None:
            continue
        demand += percent / 100 * item.vcpus
        guest = guests.get(item.uuid)
        if guest is not None:
            guest_rows.append(GuestSample(guest=guest, time=now, cpu=percent))
    if conf("HOST_CPU") == "guests":
        cpu = min(100.0, 100.0 * demand / max(1, reading.cpu_count)) if seconds > 0 else None
    else:
        cpu = host_cpu_percent(before.values.get("cpu", {}), reading.cpu_stats or {})
    if cpu is not None:
        host_rows.append(HostSample(host=host, metric=CPU, time=now, value=cpu))
