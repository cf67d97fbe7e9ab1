from automigrate.models.events import Event
from automigrate.models.hosts import Guest, Host
from automigrate.models.metrics import GuestSample, HostSample, SourceCounters
from automigrate.models.migrations import Migration, MigrationBatch, MigrationLock
from automigrate.models.platforms import PlatformSession
from automigrate.models.rules import MigrationRule

__all__ = [
    "Event",
    "Guest",
    "GuestSample",
    "Host",
    "HostSample",
    "Migration",
    "MigrationBatch",
    "MigrationLock",
    "MigrationRule",
    "PlatformSession",
    "SourceCounters",
]
