"""libvirt + QEMU/KVM hosts: the inventory read from each host's libvirtd, migrations by its driver.

Every configured host (AUTOMIGRATE_LIBVIRT_HOSTS) is read in parallel, each
in its own bounded call (connection included), so one host that hangs costs
the round at most LIBVIRT_CALL_TIMEOUT_SECONDS and never holds the others.
A host that fails is reported ``unreachable`` with the reason; the shared
sync (services/inventory.py) marks it offline and leaves its guests alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from automigrate.bounded import call_bounded
from automigrate.platforms.base import Platform, PlatformError, PlatformInventory
from automigrate.virt import config
from automigrate.virt.connection import LibvirtUnavailable, binding, connected, error_line
from automigrate.virt.readings import HostReading, placed_guests, read_host


def read_one(host: config.LibvirtHost, counters: bool = False) -> HostReading:
    with connected(host.uri) as conn:
        return read_host(conn, host.name, counters=counters)


def read_all(counters: bool = False) -> tuple[list[HostReading], dict[str, str]]:
    """Every configured host, in parallel and each bounded: (readings, host name -> why it failed)."""
    hosts = config.configured_hosts()
    seconds = float(config.conf("CALL_TIMEOUT_SECONDS")) + float(config.conf("CONNECT_TIMEOUT_SECONDS"))

    def bounded(host: config.LibvirtHost) -> HostReading | str:
        try:
            return call_bounded(read_one, host, counters, seconds=seconds, what=f"libvirt host {host.name}")
        except Exception as exc:  # every failure of one host is that host's, in one line
            return error_line(exc, f"reading {host.name}")

    readings: list[HostReading] = []
    failed: dict[str, str] = {}
    if not hosts:
        return readings, failed
    with ThreadPoolExecutor(max_workers=min(32, len(hosts)), thread_name_prefix="libvirt-read") as pool:
        for host, outcome in zip(hosts, pool.map(bounded, hosts), strict=True):
            if isinstance(outcome, str):
                failed[host.name] = outcome
            else:
                readings.append(outcome)
    return readings, failed


class LibvirtPlatform(Platform):
    name = "libvirt"
    driver = "automigrate.drivers.libvirt.LibvirtDriver"
    metric_source = "automigrate.sources.libvirt.LibvirtSource"

    def read_inventory(self) -> PlatformInventory:
        try:
            binding()
            readings, failed = read_all()
        except (LibvirtUnavailable, config.LibvirtConfigError) as exc:
            raise PlatformError(str(exc)) from exc
        if failed and not readings:
            raise PlatformError("no libvirt host answered: " + "; ".join(failed.values()))
        uuids = [r.uuid for r in readings]
        twins = sorted({u for u in uuids if uuids.count(u) > 1})
        if twins:
            # Two daemons with one host UUID would merge into one host; libvirt also refuses to migrate between them.
            raise PlatformError(f"hosts share the host UUID {twins[0]}: give each libvirtd its own host_uuid")
        # A host that did not answer is named by automigrate's name (the sync matches name or external id).
        return PlatformInventory(
            hosts=[r.inventory_host() for r in readings], guests=placed_guests(readings), unreachable=failed,
        )

    def check(self) -> list[str]:
        problems = config.problems()
        try:
            binding()
        except LibvirtUnavailable as exc:
            problems.append(f"AUTOMIGRATE_PLATFORM=libvirt: {exc}")
        return problems
