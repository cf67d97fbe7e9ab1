"""Who performs a migration: one module per driver, chosen by settings.AUTOMIGRATE["DRIVER"]."""

from django.conf import settings

from automigrate.drivers.base import DriverError, MigrationDriver, PollResult, idempotency_key
from automigrate.drivers.bounded import BoundedDriver, DriverTimedOut, bounded
from automigrate.registry import resolve

# Short names for the built-in drivers; any other value is a dotted path to a class.
DRIVERS = {
    "simulator": "automigrate.drivers.simulator.SimulatorDriver",
    "proxmox": "automigrate.drivers.proxmox.ProxmoxDriver",
    "openstack": "automigrate.drivers.openstack.OpenStackDriver",
    "libvirt": "automigrate.drivers.libvirt.LibvirtDriver",
}


def driver_class(name: str | None = None) -> type[MigrationDriver]:
    """The driver class a name stands for; ImproperlyConfigured, in one line, if it stands for none."""
    # No driver named: the configured platform's own (simulator by default).
    name = name or settings.AUTOMIGRATE["DRIVER"] or _platform_driver()
    return resolve(name, DRIVERS, MigrationDriver, setting="AUTOMIGRATE_DRIVER", noun="driver")


def _platform_driver() -> str:
    from automigrate.platforms import platform_class

    return platform_class().driver


def get_driver(name: str | None = None) -> BoundedDriver:
    """The configured driver, every call bounded (a new instance: drivers keep no state between calls)."""
    return bounded(driver_class(name)())


__all__ = [
    "DRIVERS", "BoundedDriver", "DriverError", "DriverTimedOut", "MigrationDriver", "PollResult", "bounded",
    "driver_class", "get_driver", "idempotency_key",
]
