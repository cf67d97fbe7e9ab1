from automigrate.models.events import Event
from automigrate.models.hosts import Guest, Host
from automigrate.models.metrics import GuestSample, HostSample
from automigrate.models.migrations import Migration, MigrationBatch, MigrationLock
from automigrate.models.placement import BlackoutWindow, PlacementGroup
from automigrate.models.rules import MigrationRule

__all__ = [
    "BlackoutWindow",
    "Event",
    "Guest",
    "GuestSample",
    "Host",
    "HostSample",
    "Migration",
    "MigrationBatch",
    "MigrationLock",
    "MigrationRule",
    "PlacementGroup",
]
