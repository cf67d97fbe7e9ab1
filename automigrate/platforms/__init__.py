"""Platforms (inventory + driver), chosen by settings.AUTOMIGRATE["PLATFORM"]."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from automigrate.platforms.base import (
    InventoryGuest,
    InventoryHost,
    Platform,
    PlatformError,
    PlatformInventory,
)

# Short names for the built-in platforms; any other value is a dotted path to a class.
PLATFORMS = {
    "simulator": "automigrate.platforms.simulator.SimulatorPlatform",
    "proxmox": "automigrate.platforms.proxmox.ProxmoxPlatform",
    "openstack": "automigrate.platforms.openstack.OpenStackPlatform",
    "libvirt": "automigrate.platforms.libvirt.LibvirtPlatform",
    "cloudpods": "automigrate.platforms.cloudpods.CloudpodsPlatform",
}


def platform_class(name: str | None = None) -> type[Platform]:
    """The platform class a name stands for; ImproperlyConfigured, in one line, if none."""
    name = name or settings.AUTOMIGRATE["PLATFORM"]
    try:
        found = import_string(PLATFORMS.get(name, name))
    except ImportError as exc:
        found, why = None, f" ({str(exc).splitlines()[0]})" if "." in name else ""
    else:
        why = "" if isinstance(found, type) and issubclass(found, Platform) else " (not a Platform)"
    if why or found is None:
        raise ImproperlyConfigured(
            f"AUTOMIGRATE_PLATFORM={name!r} is not a platform{why}: use {', '.join(PLATFORMS)},"
            " or the dotted path of a Platform class"
        )
    return found


def get_platform(name: str | None = None) -> Platform:
    return platform_class(name)()


__all__ = [
    "PLATFORMS", "InventoryGuest", "InventoryHost", "Platform", "PlatformError", "PlatformInventory",
    "get_platform", "platform_class",
]
