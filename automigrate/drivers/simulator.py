"""The simulated cluster's driver: migrations that take time and sometimes fail.

Stateless by design: a migration's duration follows from the guest's memory
(``lifecycle.migration_seconds`` at SIM_BANDWIDTH_MB_PER_S) and its outcome
from a hash of the migration's id, so any worker, including one started after
a crash, gives the same answer from the Migration row alone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.engine import lifecycle
from automigrate.models import Migration


def _unit_draw(migration_pk: int) -> float:
    """A number in [0, 1) fixed for this migration: same on every poll and every worker."""
    digest = hashlib.sha256(f"sim-migration-{migration_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimulatorDriver(MigrationDriver):
    name = "simulator"
    # Its "outside" is our own database: bounded by statement_timeout, no thread of its own.
    bounded_by_database = True

    def precheck(self, migration: Migration) -> str | None:
        guest, target = migration.guest, migration.target
        if settings.AUTOMIGRATE["METRIC_SOURCE"] != "simulator":
            # Real metrics with the pretend driver would record migrations that never happened.
            return (
                "the simulator driver only moves the simulated cluster's guests, and metrics come from "
                f"'{settings.AUTOMIGRATE['METRIC_SOURCE']}': set AUTOMIGRATE_DRIVER to a real driver, "
                "or use recommend mode"
            )
        if not target.accepts_guests:
            return f"target host {target.name} does not accept guests (enabled={target.enabled}, {target.status})"
        if guest.host_id != migration.source_id:
            return f"guest {guest.name} is on {guest.host.name}, not on {migration.source.name}"
        return None

    def start(self, migration: Migration, now: datetime) -> str:
        problem = self.precheck(migration)
        if problem:
            raise DriverError(problem)
        return f"sim-{migration.pk}"

    def expected_seconds(self, migration: Migration) -> float:
        return lifecycle.migration_seconds(
            migration.guest.vmem_size, settings.AUTOMIGRATE["SIM_BANDWIDTH_MB_PER_S"]
        )

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        if migration.started_at is None:
            return PollResult(RUNNING)
        if (now - migration.started_at).total_seconds() < self.expected_seconds(migration):
            return PollResult(RUNNING)
        if _unit_draw(migration.pk) < settings.AUTOMIGRATE["SIM_FAILURE_PROBABILITY"]:
            return PollResult(
                FAILED, error="simulated failure: the migration aborted, the guest stays on its source",
                host_name=migration.source.name,
            )
        return PollResult(SUCCEEDED, host_name=migration.target.name)
