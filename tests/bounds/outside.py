"""Outside things that never answer, referenced by dotted path in settings like any real driver or source.

They block on an Event the tests set at teardown (and give up on their own
after ``GIVE_UP_SECONDS``), so a test run on code without bounds fails rather
than hanging for ever, and no thread outlives the test run.
"""

from __future__ import annotations

import threading

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, MigrationDriver, PollResult
from automigrate.sources.base import MetricSource

GIVE_UP_SECONDS = 60
release = threading.Event()


def block() -> None:
    release.wait(GIVE_UP_SECONDS)


class BlockingDriver(MigrationDriver):
    """Its start, poll and cancel never answer."""

    name = "blocking"
    calls: list[str] = []

    def start(self, migration, now):
        BlockingDriver.calls.append("start")
        block()
        return f"blocked-{migration.pk}"

    def poll(self, migration, now):
        BlockingDriver.calls.append("poll")
        block()
        return PollResult(RUNNING)

    def cancel(self, migration):
        BlockingDriver.calls.append("cancel")
        block()


class BlockingSource(MetricSource):
    """Every question hangs, series included."""

    name = "blocking"

    def host_means(self, since, until):
        block()
        return {}

    def guest_means(self, since, until, guest_ids=None):
        block()
        return {}

    def host_series(self, host_id, metric, start, end, bucket_seconds):
        block()
        return []


class CrashingDriver(MigrationDriver):
    """Starts the migration on the "platform", then the process dies before we hear back.

    ``platform`` is the platform's own memory: idempotency key -> polls seen. While
    starting it also reads the Migration row as the database has it, to prove the
    intent was recorded before the driver was called.
    """

    name = "crashing"
    platform: dict[str, int] = {}
    starts: list[str] = []
    rows_seen_at_start: list[tuple] = []
    crash = True

    def start(self, migration, now):
        from automigrate.drivers.base import idempotency_key
        from automigrate.models import Migration

        key = idempotency_key(migration)
        CrashingDriver.starts.append(key)
        CrashingDriver.rows_seen_at_start.append(
            Migration.objects.filter(pk=migration.pk).values_list("state", "started_at", "start_confirmed_at").get()
        )
        CrashingDriver.platform.setdefault(key, 0)
        if CrashingDriver.crash:
            raise SystemExit("the worker process died right after the platform accepted the start")
        return f"job-{key}"

    def poll(self, migration, now):
        from automigrate.drivers.base import idempotency_key

        key = idempotency_key(migration)
        if key not in CrashingDriver.platform:
            return PollResult(FAILED, error=f"no migration with key {key}: never started")
        CrashingDriver.platform[key] += 1
        # Running at the first poll, done at the second.
        return PollResult(RUNNING) if CrashingDriver.platform[key] < 2 else PollResult(
            SUCCEEDED, host_name=migration.target.name
        )
