"""Platforms (inventory + driver), chosen by settings.AUTOMIGRATE["PLATFORM"]."""

from django.conf import settings

from automigrate.platforms.base import (
    InventoryGuest,
    InventoryHost,
    Platform,
    PlatformError,
    PlatformInventory,
)
from automigrate.registry import resolve

# Short names for the built-in platforms; any other value is a dotted path to a class.
PLATFORMS = {
    "simulator": "automigrate.platforms.simulator.SimulatorPlatform",
    "proxmox": "automigrate.platforms.proxmox.ProxmoxPlatform",
    "openstack": "automigrate.platforms.openstack.OpenStackPlatform",
    "libvirt": "automigrate.platforms.libvirt.LibvirtPlatform",
    "cloudpods": "automigrate.platforms.cloudpods.CloudpodsPlatform",
}


def platform_class(name: str | None = None) -> type[Platform]:
    """The platform class a name stands for; ImproperlyConfigured, in one line, if it stands for none."""
    name = name or settings.AUTOMIGRATE["PLATFORM"]
    return resolve(name, PLATFORMS, Platform, setting="AUTOMIGRATE_PLATFORM", noun="platform")


def get_platform(name: str | None = None) -> Platform:
    return platform_class(name)()


__all__ = [
    "PLATFORMS", "InventoryGuest", "InventoryHost", "Platform", "PlatformError", "PlatformInventory",
    "get_platform", "platform_class",
]
