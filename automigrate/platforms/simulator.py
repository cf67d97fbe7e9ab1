"""The simulated cluster: its inventory is the database itself (simulator seed)."""

from automigrate.platforms.base import Platform, PlatformInventory


class SimulatorPlatform(Platform):
    name = "simulator"
    driver = "automigrate.drivers.simulator.SimulatorDriver"
    has_inventory = False

    def read_inventory(self) -> PlatformInventory:
        return PlatformInventory()
