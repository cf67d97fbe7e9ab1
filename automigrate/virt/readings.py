"""What one libvirt host says, read with as few calls as possible, and what it means.

A host is read with ``getInfo()``, ``getCapabilities()`` (host UUID, CPU
architecture) and one ``getAllDomainStats()`` for all its guests; the metric
source adds ``getCPUStats(-1)`` and ``getMemoryStats(-1)``. The functions that
turn those answers into automigrate's terms are pure, so they are tested
against libvirt's ``test:///default`` driver and plain dictionaries alike.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from automigrate.platforms.base import InventoryGuest, InventoryHost

# virDomainState
NOSTATE, RUNNING, BLOCKED, PAUSED, SHUTDOWN, SHUTOFF, CRASHED, PMSUSPENDED = range(8)
PAUSED_MIGRATION = 2  # virDomainPausedReason VIR_DOMAIN_PAUSED_MIGRATION
PAUSED_STARTING_UP = 11  # the incoming side of a migration before its memory arrives
NO_SUPPORT = 3  # VIR_ERR_NO_SUPPORT
STATS = 1 | 2 | 4 | 8  # VIR_DOMAIN_STATS_STATE | CPU_TOTAL | BALLOON | VCPU

# libvirt's hypervisor names -> automigrate's host_type (the engine only pairs hosts of one type).
HOST_TYPES = {"qemu": "kvm", "kvm": "kvm"}


@dataclass
class GuestReading:
    """One guest as one host lists it."""

    uuid: str
    name: str
    state: int
    reason: int
    vcpus: int
    memory_kib: int
    cpu_time_ns: int | None

    @property
    def incoming(self) -> bool:
        """The destination's paused copy during a migration."""
        return self.state == PAUSED and self.reason in (PAUSED_MIGRATION, PAUSED_STARTING_UP)

    @property
    def status(self) -> str:
        if self.state in (RUNNING, BLOCKED):
            return "running"
        if self.incoming:
            return "migrating"
        if self.state in (SHUTDOWN, SHUTOFF, CRASHED):
            return "stopped"
        return "unknown"

    @property
    def rank(self) -> int:
        """Which copy counts when a guest is listed on two hosts: the running one, then the incoming one."""
        return {"running": 3, "migrating": 2, "unknown": 1}.get(self.status, 0)


@dataclass
class HostReading:
    name: str
    uuid: str
    cpu_count: int
    mem_total: int  # bytes
    host_type: str
    cpu_arch: str
    guests: list[GuestReading] = field(default_factory=list)
    # Metric counters, when asked for: getCPUStats(-1) (ns) and getMemoryStats(-1) (KiB).
    cpu_stats: dict[str, int] | None = None
    memory_stats: dict[str, int] | None = None
    taken_at: float = 0.0  # time.time() of the reading

    def inventory_host(self) -> InventoryHost:
        return InventoryHost(
            name=self.name, external_id=self.uuid, cpu_count=self.cpu_count, mem_total=self.mem_total,
            host_type=self.host_type, cpu_arch=self.cpu_arch,
        )


def host_identity(capabilities_xml: str) -> tuple[str, str]:
    """(host UUID, CPU architecture) from ``getCapabilities()``."""
    root = ET.fromstring(capabilities_xml)
    uuid = (root.findtext("host/uuid") or "").strip()
    arch = (root.findtext("host/cpu/arch") or "").strip()
    return uuid, arch


def host_type(libvirt_type: str) -> str:
    return HOST_TYPES.get(libvirt_type.lower(), libvirt_type.lower())


def guest_reading(dom, stats: dict) -> GuestReading:
    """A guest from one ``getAllDomainStats`` record; ``dom.info()`` fills what the driver left out.

    QEMU reports every field asked for; libvirt's test driver reports only the state.
    """
    vcpus, memory_kib, cpu_time = stats.get("vcpu.current"), stats.get("balloon.maximum"), stats.get("cpu.time")
    if vcpus is None or memory_kib is None:
        _state, max_mem, _mem, nr_vcpus, info_cpu_time = dom.info()
        vcpus = nr_vcpus if vcpus is None else vcpus
        memory_kib = max_mem if memory_kib is None else memory_kib
        cpu_time = info_cpu_time if cpu_time is None else cpu_time
    return GuestReading(
        uuid=dom.UUIDString(), name=dom.name(), state=int(stats.get("state.state", NOSTATE)),
        reason=int(stats.get("state.reason", 0)), vcpus=int(vcpus), memory_kib=int(memory_kib),
        cpu_time_ns=None if cpu_time is None else int(cpu_time),
    )


def read_host(conn, name: str, *, counters: bool = False) -> HostReading:
    """Everything the inventory (and, with ``counters``, the metric source) needs from one host."""
    info = conn.getInfo()  # [model, memory MiB, cpus, MHz, nodes, sockets, cores, threads]
    uuid, arch = host_identity(conn.getCapabilities())
    reading = HostReading(
        name=name, uuid=uuid or name, cpu_count=int(info[2]), mem_total=int(info[1]) * 1024 * 1024,
        host_type=host_type(conn.getType()), cpu_arch=arch or str(info[0]),
    )
    reading.guests = [guest_reading(dom, stats) for dom, stats in conn.getAllDomainStats(STATS)]
    if counters:
        reading.cpu_stats = _optional(conn.getCPUStats, -1)
        reading.memory_stats = _optional(conn.getMemoryStats, -1)
    reading.taken_at = time.time()
    return reading


def _optional(call, *args) -> dict[str, int] | None:
    """A host counter, or None where the driver has none (VIR_ERR_NO_SUPPORT): a metric then goes unsampled."""
    import libvirt

    try:
        return dict(call(*args))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == NO_SUPPORT:
            return None
        raise


def placed_guests(readings: list[HostReading]) -> list[InventoryGuest]:
    """Every guest once, on the host where it runs.

    During a live migration libvirt lists the guest on both hosts: running on
    the source, paused (for migration) on the destination. The running copy
    counts; if none runs, the best-ranked (ties: the first host read).
    """
    best: dict[str, tuple[GuestReading, HostReading]] = {}
    order: list[str] = []
    for host in readings:
        for guest in host.guests:
            current = best.get(guest.uuid)
            if current is None:
                order.append(guest.uuid)
            if current is None or guest.rank > current[0].rank:
                best[guest.uuid] = (guest, host)
    return [
        InventoryGuest(
            name=g.name, external_id=g.uuid, host_external_id=h.uuid, vcpu_count=g.vcpus,
            vmem_size=max(1, g.memory_kib // 1024), status=g.status,
        )
        for g, h in (best[u] for u in order)
    ]


# --- metrics from counters ------------------------------------------------------


def host_cpu_percent(before: dict[str, int], after: dict[str, int]) -> float | None:
    """Busy % of the host between two ``getCPUStats(-1)`` readings (kernel + user over all)."""
    keys = ("kernel", "user", "idle", "iowait")
    if any(k not in before or k not in after for k in ("kernel", "user", "idle")):
        return None
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    total = sum(delta.values())
    if total <= 0 or any(v < 0 for v in delta.values()):
        return None  # counters reset (host rebooted) or no time passed
    return max(0.0, min(100.0, 100.0 * (delta["kernel"] + delta["user"]) / total))


def available_bytes(memory_stats: dict[str, int]) -> int | None:
    """free + buffers + cached, in bytes, from ``getMemoryStats(-1)`` (KiB)."""
    if "free" not in memory_stats:
        return None
    return 1024 * sum(int(memory_stats.get(k, 0)) for k in ("free", "buffers", "cached"))


def guest_cpu_percent(before_ns: int, after_ns: int, seconds: float, vcpus: int) -> float | None:
    """% of its own vCPUs a guest used between two ``cpu.time`` readings."""
    if seconds <= 0 or vcpus <= 0 or after_ns < before_ns:
        return None
    return max(0.0, min(100.0, 100.0 * (after_ns - before_ns) / (seconds * 1e9 * vcpus)))
