"""The migration driver interface: precheck, start, poll, cancel.

A driver talks to whatever performs live migrations (the simulator, a cloud's
compute API, libvirt). It never writes events or changes Migration rows: the
execution service does, from what the driver answers. State a driver needs
between calls must live in the database (its ``driver_ref`` on the Migration,
or its own system), because the worker that starts a migration may not be the
one that sees it finish.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automigrate.models import Migration

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


class DriverError(Exception):
    """The driver refused or could not start a migration; the message says why, in one line."""


@dataclass(frozen=True)
class PollResult:
    status: str  # RUNNING | SUCCEEDED | FAILED
    error: str = ""
    # Where the guest runs now, when the driver knows (a real cloud may land it elsewhere).
    host_name: str | None = None
    # Fraction done (0–1) while running, when the platform reports it (libvirt's job stats);
    # None: the dashboard estimates it from memory size and bandwidth.
    progress: float | None = None


class MigrationDriver(ABC):
    name = "base"

    def precheck(self, migration: Migration) -> str | None:
        """Why this migration cannot start now, or None if it may."""
        return None

    @abstractmethod
    def start(self, migration: Migration, now: datetime) -> str:
        """Ask for a live migration of ``migration.guest`` to ``migration.target``.

        Returns the driver's reference for it; raises DriverError if refused.
        """

    @abstractmethod
    def poll(self, migration: Migration, now: datetime) -> PollResult:
        """How the migration started earlier (``migration.driver_ref``) is doing."""

    def cancel(self, migration: Migration) -> None:  # noqa: B027 - optional for drivers
        """Best effort: stop a migration that timed out. The default does nothing."""
