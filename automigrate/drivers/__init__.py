"""Who performs a migration: one module per driver, chosen by settings.AUTOMIGRATE["DRIVER"]."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from automigrate.drivers.base import DriverError, MigrationDriver, PollResult, idempotency_key
from automigrate.drivers.bounded import BoundedDriver, DriverTimedOut, bounded

# Short names for the built-in drivers; any other value is a dotted path to a class.
DRIVERS = {
    "simulator": "automigrate.drivers.simulator.SimulatorDriver",
    "proxmox": "automigrate.drivers.proxmox.ProxmoxDriver",
    "openstack": "automigrate.drivers.openstack.OpenStackDriver",
    "libvirt": "automigrate.drivers.libvirt.LibvirtDriver",
}


def driver_class(name: str | None = None) -> type[MigrationDriver]:
    """The driver class a name stands for; ImproperlyConfigured, in one line, if it stands for none.

    The system check (automigrate.checks) calls this too, so a typo in
    AUTOMIGRATE_DRIVER is reported at start-up rather than by the first batch.
    """
    # No driver named: the configured platform's own (simulator by default).
    name = name or settings.AUTOMIGRATE["DRIVER"] or _platform_driver()
    try:
        found = import_string(DRIVERS.get(name, name))
    except ImportError as exc:
        found, why = None, f" ({str(exc).splitlines()[0]})" if "." in name else ""
    else:
        why = "" if isinstance(found, type) and issubclass(found, MigrationDriver) else " (not a MigrationDriver)"
    if why or found is None:
        raise ImproperlyConfigured(
            f"AUTOMIGRATE_DRIVER={name!r} is not a driver{why}: use {', '.join(DRIVERS)},"
            " or the dotted path of a MigrationDriver class"
        )
    return found


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
