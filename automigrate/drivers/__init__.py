"""Who performs a migration: one module per driver, chosen by settings.AUTOMIGRATE["DRIVER"]."""

from django.conf import settings
from django.utils.module_loading import import_string

from automigrate.drivers.base import DriverError, MigrationDriver, PollResult

# Short names for the built-in drivers; any other value is a dotted path to a class.
DRIVERS = {
    "simulator": "automigrate.drivers.simulator.SimulatorDriver",
}


def get_driver(name: str | None = None) -> MigrationDriver:
    """The configured driver (a new instance: drivers keep no state between calls)."""
    name = name or settings.AUTOMIGRATE["DRIVER"]
    return import_string(DRIVERS.get(name, name))()


__all__ = ["DRIVERS", "DriverError", "MigrationDriver", "PollResult", "get_driver"]
