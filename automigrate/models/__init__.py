from automigrate.models.backtests import BacktestRun
from automigrate.models.events import Event
from automigrate.models.hosts import Guest, Host
from automigrate.models.metrics import (
    GuestRollup1m,
    GuestRollup5m,
    GuestSample,
    HostRollup1m,
    HostRollup5m,
    HostSample,
    RollupProgress,
    SourceCounters,
)
from automigrate.models.migrations import Migration, MigrationBatch, MigrationLock
from automigrate.models.outside import OutsideTimeout
from automigrate.models.placement import BlackoutWindow, PlacementGroup
from automigrate.models.platforms import PlatformSession
from automigrate.models.preferences import UserPreference
from automigrate.models.rules import MigrationRule
from automigrate.models.telemetry import MetricCounter
from automigrate.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "BacktestRun",
    "BlackoutWindow",
    "Event",
    "Guest",
    "GuestRollup1m",
    "GuestRollup5m",
    "GuestSample",
    "Host",
    "HostRollup1m",
    "HostRollup5m",
    "HostSample",
    "MetricCounter",
    "Migration",
    "MigrationBatch",
    "MigrationLock",
    "MigrationRule",
    "OutsideTimeout",
    "PlacementGroup",
    "PlatformSession",
    "RollupProgress",
    "SourceCounters",
    "UserPreference",
    "Webhook",
    "WebhookDelivery",
]
