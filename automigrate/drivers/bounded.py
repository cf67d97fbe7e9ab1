"""Every driver call bounded by the framework, whatever the driver does.

``drivers.get_driver()`` hands out a ``BoundedDriver``: the same four calls,
each run through ``automigrate.bounded.call_bounded`` with its own limit from
settings (``AUTOMIGRATE_DRIVER_<CALL>_TIMEOUT_SECONDS``). A call past its bound
raises ``DriverTimedOut``, which is a ``DriverError`` (so every caller treats it
as that call failing) and a ``CallTimedOut`` (its message names the call:
"driver poll did not answer in 5 s"). Each timeout is also noted for the
overview's banner (automigrate.services.outside).

Drivers whose only "outside" is our own database (the simulator's) set
``bounded_by_database = True``: their calls run in the caller's thread, on the
caller's connection and transaction, bounded by the database's
``statement_timeout`` (settings: DATABASE_STATEMENT_TIMEOUT_SECONDS). A thread
would buy nothing there and cost a connection per call, and it could not see
rows the caller has not committed yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.drivers.base import DriverError, MigrationDriver, PollResult

if TYPE_CHECKING:
    from automigrate.models import Migration

CALLS = ("precheck", "start", "poll", "cancel")


class DriverTimedOut(DriverError, CallTimedOut):
    """A driver call did not answer within its bound: that call failed."""

    def __init__(self, what: str, seconds: float, *, still_busy: bool = False):
        CallTimedOut.__init__(self, what, seconds, still_busy=still_busy)


def call_timeout(call: str) -> float:
    """The bound on one driver call, from settings."""
    return float(settings.AUTOMIGRATE[f"DRIVER_{call.upper()}_TIMEOUT_SECONDS"])


class BoundedDriver(MigrationDriver):
    """Wraps a driver so that none of its calls can hold the caller past its bound."""

    def __init__(self, inner: MigrationDriver):
        self.inner = inner
        self.name = inner.name
        self.bounded_by_database = inner.bounded_by_database

    def __getattr__(self, name: str):
        # Anything beyond the four calls (a simulator's expected_seconds) is the driver's own.
        return getattr(self.inner, name)

    def _call(self, call: str, migration: Migration, *args):
        method = getattr(self.inner, call)
        if self.bounded_by_database:
            return method(migration, *args)
        seconds = call_timeout(call)
        what = f"driver {call}"
        try:
            # One stuck thread per (call, migration) at most: a poll that hangs is not retried
            # in a new thread every watch interval while the first one is still stuck.
            return call_bounded(method, migration, *args, seconds=seconds, what=what,
                                key=(id(type(self.inner)), call, migration.pk))
        except CallTimedOut as exc:
            from automigrate.services import outside

            outside.note_timeout("driver", f"{self.inner.name} {call}", str(exc))
            raise DriverTimedOut(what, seconds, still_busy=exc.still_busy) from None

    def precheck(self, migration: Migration) -> str | None:
        return self._call("precheck", migration)

    def start(self, migration: Migration, now: datetime) -> str:
        return self._call("start", migration, now)

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        return self._call("poll", migration, now)

    def cancel(self, migration: Migration) -> None:
        return self._call("cancel", migration)


def bounded(driver: MigrationDriver) -> BoundedDriver:
    """``driver`` with every call bounded (a driver already wrapped is returned as is)."""
    return driver if isinstance(driver, BoundedDriver) else BoundedDriver(driver)
