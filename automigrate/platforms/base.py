"""A platform: where the inventory comes from and who performs migrations, as one unit.

A platform (libvirt, Cloudpods, OpenStack, Proxmox, the simulator) answers two
things: "which hosts and guests exist, and where does each guest run"
(``read_inventory``) and "move this guest" (its ``driver``, a MigrationDriver).
It may also offer a metric source (``metric_source``), for platforms whose own
API carries usable numbers (libvirt, Proxmox).

Connectors only *read* their platform and describe it with the dataclasses
below; ``automigrate.services.inventory.sync_inventory`` is the one code path
that turns such a description into Host and Guest rows (create, update, mark
gone) and writes the events, for every platform alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

# "zone:<name>" on a host is the boundary the engine keeps guests within (services/snapshot.py):
# an OpenStack availability zone, or a label an admin sets by hand.
ZONE_LABEL = "zone:"


class PlatformError(Exception):
    """The platform refused or could not answer; the message says why, in one line."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    external_id: str  # the platform's id (libvirt host UUID, Cloudpods host id, …)
    cpu_count: int
    mem_total: int  # bytes
    host_type: str = "kvm"
    cpu_arch: str = "x86_64"
    # False: disabled on the platform (kept, but neither source nor target).
    enabled: bool = True
    labels: tuple[str, ...] = ()  # only labels with the platform's host_label_prefixes, e.g. ("zone:az1",)


@dataclass(frozen=True)
class InventoryGuest:
    name: str
    external_id: str  # the platform's id (domain UUID, server id, …)
    host_external_id: str  # where it *runs* (during a migration: the running copy)
    vcpu_count: int
    vmem_size: int  # MB, as Guest.vmem_size
    status: str = "running"  # running | migrating | stopped | unknown (Guest.Status values)
    labels: tuple[str, ...] = ()  # e.g. ("never-migrate",) for what the platform cannot live-migrate


@dataclass(frozen=True)
class PlatformInventory:
    """One round's reading of the platform."""

    hosts: list[InventoryHost] = field(default_factory=list)
    guests: list[InventoryGuest] = field(default_factory=list)
    # external_id -> why it did not answer, in one line. Such a host is offline for the
    # round (neither source nor target) and its guests are left where they were.
    unreachable: dict[str, str] = field(default_factory=dict)


class Platform(ABC):
    name = "base"
    # Dotted path of the MigrationDriver that performs this platform's migrations.
    driver: str = ""
    # Dotted path of a MetricSource this platform offers, or "" when it has none.
    metric_source: str = ""
    # Whether read_inventory describes the cluster (False: the database *is* the inventory,
    # as for the simulator and for hosts registered by hand or by /write).
    has_inventory: bool = True
    # Host labels with these prefixes are this platform's: each sync replaces them with what it
    # reports now (leaving an aggregate drops its label); every other host label is the admin's.
    host_label_prefixes: tuple[str, ...] = ()

    @abstractmethod
    def read_inventory(self) -> PlatformInventory:
        """Read every host and guest. Raise PlatformError when nothing at all could be read.

        A connector bounds each of its own calls (a per-host read that hangs must not
        hold the others); the sync service also bounds the whole read.
        """

    def check(self) -> list[str]:
        """Configuration problems, one line each, for the system check (no network calls)."""
        return []

    def warnings(self) -> list[str]:
        """Problems that need not stop the processes (a peer that did not answer last time), one line each."""
        return []
