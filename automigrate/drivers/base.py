"""The migration driver interface: precheck, start, poll, cancel.

A driver talks to whatever performs live migrations (the simulator, a cloud's
compute API, libvirt). It never writes events or changes Migration rows: the
execution service does, from what the driver answers. State a driver needs
between calls must live in the database (its ``driver_ref`` on the Migration,
or its own system), because the worker that starts a migration may not be the
one that sees it finish.

Time bounds: the framework, not the driver, bounds every call
(automigrate/drivers/bounded.py, ``AUTOMIGRATE_DRIVER_*_TIMEOUT_SECONDS``:
precheck, poll and cancel a few seconds, start longer). A call past its bound
counts as that call failing; its thread is abandoned, so a driver should still
give its own network calls timeouts shorter than the bound.

Idempotency: the migration's id (``idempotency_key(migration)``, i.e.
``migration.pk``) is recorded with the intent to start *before* ``start`` is
called. A driver must make ``start`` idempotent on that key (tag the job with
it, or look it up first) and be able to ``poll``/``cancel`` by it alone:
after a crash between the driver's answer and our recording of it, the
watcher calls ``poll`` with an empty ``driver_ref`` instead of starting again.
Such a poll answers RUNNING/SUCCEEDED if a migration with that key exists,
and FAILED ("never started") if none does.
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


def idempotency_key(migration: Migration) -> str:
    """The key a driver tags its migration with: the Migration's id, fixed before ``start`` is called."""
    return str(migration.pk)


class MigrationDriver(ABC):
    name = "base"
    # True only for drivers whose one "outside" is our own database (the simulator's): their
    # calls then run in the caller's thread, bounded by the database's statement_timeout,
    # instead of in a thread of their own (see automigrate/drivers/bounded.py).
    bounded_by_database = False

    def precheck(self, migration: Migration) -> str | None:
        """Why this migration cannot start now, or None if it may."""
        return None

    @abstractmethod
    def start(self, migration: Migration, now: datetime) -> str:
        """Ask for a live migration of ``migration.guest`` to ``migration.target``.

        Returns the driver's reference for it; raises DriverError if refused.
        Idempotent on ``idempotency_key(migration)``: called twice with the same
        migration, it must not start a second one.
        """

    @abstractmethod
    def poll(self, migration: Migration, now: datetime) -> PollResult:
        """How the migration started earlier (``migration.driver_ref``) is doing.

        ``driver_ref`` is empty when the process that called ``start`` died before
        recording the answer: find the migration by ``idempotency_key(migration)``.
        """

    def cancel(self, migration: Migration) -> None:  # noqa: B027 - optional for drivers
        """Best effort: stop a migration that timed out. The default does nothing.

        Called in the background, bounded; nobody waits for it.
        """
