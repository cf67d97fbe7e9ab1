"""Live migrations between libvirt hosts: peer-to-peer, driven by the source's libvirtd.

- start: ``migrateToURI3(dest, params, LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE
  [| AUTO_CONVERGE] [| TLS] [| NON_SHARED_DISK])`` blocks until the migration ends, so it
  runs in a background thread; ``start`` waits (at most LIBVIRT_START_CONFIRM_SECONDS) until
  memory is flowing or the call has failed in set-up (destination unreachable, same host,
  the destination cannot listen…), which it raises as one readable line.
- poll (from any worker, any process): the outcome is where the guest runs — running on
  the target means done; on the source with a migration job means still copying (its
  ``jobStats`` give the progress); on the source with no job means it ended without moving.
  Nothing but the driver_ref (``libvirt:<domain UUID>``) is needed, so a worker killed
  mid-migration loses nothing: with PEER2PEER the source libvirtd carries on without us.
- cancel: ``abortJob()`` until ``jobStats()`` shows no job (an abort during set-up can be
  lost); the guest keeps running on its source.

Every call is bounded: connections by LIBVIRT_CONNECT_TIMEOUT_SECONDS, each operation as a
whole by LIBVIRT_CALL_TIMEOUT_SECONDS on top.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from automigrate.bounded import call_bounded
from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.models import Migration
from automigrate.virt import config
from automigrate.virt.config import LibvirtConfigError, conf
from automigrate.virt.connection import binding, connected, error_line
from automigrate.virt.readings import PAUSED, host_identity
from automigrate.virt.readings import RUNNING as DOMAIN_RUNNING

log = logging.getLogger(__name__)

REF_PREFIX = "libvirt:"
NO_DOMAIN = 42
JOB_NONE = 0
ABORT_TRIES = 40
ABORT_PAUSE_SECONDS = 0.25

# Outcomes of migrate calls made by this process (migration pk -> error line, "" when it
# returned normally). Only a better error message: the outcome itself is read from libvirt.
_outcomes: dict[int, str] = {}
_threads: dict[int, threading.Thread] = {}


def migration_flags() -> int:
    libvirt = binding()
    flags = (
        libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    )
    if conf("AUTO_CONVERGE"):
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if conf("TLS"):
        flags |= libvirt.VIR_MIGRATE_TLS
    if conf("COPY_STORAGE"):
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
    return flags


def migration_params() -> dict:
    libvirt = binding()
    params: dict = {}
    address = (conf("MIGRATION_HOST") or "").strip()
    if address:
        # Where the destination listens for the memory stream; needed when all hosts share an address.
        params[libvirt.VIR_MIGRATE_PARAM_URI] = f"tcp://[{address}]" if ":" in address else f"tcp://{address}"
        params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] = address
    bandwidth = int(conf("BANDWIDTH_MIB_S") or 0)
    if bandwidth > 0:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = bandwidth
    return params


@dataclass(frozen=True)
class _Job:
    """What the libvirt calls need of a Migration, read in the caller's thread.

    The bounded calls run in threads of their own: they must not touch the ORM (a
    thread's own connection would not see the caller's transaction).
    """

    pk: int
    guest: str
    uuid: str  # the domain's UUID: from driver_ref once started, else the guest's external_id
    source: str
    target: str
    source_uri: str
    target_uri: str
    started_at: datetime | None


def _job(migration: Migration) -> _Job:
    try:
        source_uri = config.host_uri(migration.source.name)
        target_uri = config.host_uri(migration.target.name)
    except LibvirtConfigError as exc:
        raise DriverError(str(exc)) from exc
    ref = migration.driver_ref or ""
    uuid = ref[len(REF_PREFIX):] if ref.startswith(REF_PREFIX) else migration.guest.external_id
    return _Job(
        pk=migration.pk, guest=migration.guest.name, uuid=uuid, source=migration.source.name,
        target=migration.target.name, source_uri=source_uri, target_uri=target_uri,
        started_at=migration.started_at,
    )


def _lookup(conn, job: _Job):
    return conn.lookupByUUIDString(job.uuid) if job.uuid else conn.lookupByName(job.guest)


def _bound() -> float:
    return float(conf("CALL_TIMEOUT_SECONDS")) + 2 * float(conf("CONNECT_TIMEOUT_SECONDS"))


def _progress(job: dict) -> float | None:
    total, remaining = job.get("memory_total") or 0, job.get("memory_remaining")
    if not total or remaining is None:
        return 0.0
    return max(0.0, min(0.99, 1 - remaining / total))


class LibvirtDriver(MigrationDriver):
    name = "libvirt"

    # --- precheck -----------------------------------------------------------

    def precheck(self, migration: Migration) -> str | None:
        try:
            return call_bounded(self._precheck, _job(migration), seconds=_bound(), what="libvirt precheck")
        except DriverError as exc:
            return str(exc)
        except Exception as exc:
            return error_line(exc, "precheck")

    def _precheck(self, job: _Job) -> str | None:
        libvirt = binding()
        try:
            with connected(job.source_uri) as conn:
                source_uuid, _ = host_identity(conn.getCapabilities())
                try:
                    dom = _lookup(conn, job)
                except libvirt.libvirtError as exc:
                    return error_line(exc, f"guest {job.guest} is not on {job.source}")
                state = dom.state()[0]
                if state != DOMAIN_RUNNING:
                    return f"guest {job.guest} is not running on {job.source} (libvirt state {state})"
                stats = dom.jobStats()
                if stats.get("type", JOB_NONE) != JOB_NONE:
                    return f"guest {job.guest} already has a libvirt job on {job.source} (job type {stats['type']})"
        except Exception as exc:
            return error_line(exc, f"source {job.source} unreachable")
        try:
            with connected(job.target_uri) as conn:
                target_uuid, _ = host_identity(conn.getCapabilities())
                if target_uuid and target_uuid == source_uuid:
                    return f"source {job.source} and target {job.target} are the same host (host UUID {target_uuid})"
                try:
                    other = conn.lookupByName(job.guest)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != NO_DOMAIN:
                        return error_line(exc, f"checking guest names on {job.target}")
                else:
                    return (
                        f"a guest named {job.guest} already exists on {job.target}"
                        f" (UUID {other.UUIDString()}, libvirt state {other.state()[0]})"
                    )
        except Exception as exc:
            return error_line(exc, f"destination {job.target} unreachable")
        return None

    # --- start --------------------------------------------------------------

    def start(self, migration: Migration, now: datetime) -> str:
        seconds = _bound() + float(conf("START_CONFIRM_SECONDS"))
        try:
            return call_bounded(self._start, _job(migration), seconds=seconds, what="libvirt migration start")
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(error_line(exc, "starting the migration")) from exc

    def _start(self, job: _Job) -> str:
        with connected(job.source_uri) as conn:
            dom = _lookup(conn, job)
            ref = REF_PREFIX + dom.UUIDString()
            if dom.jobStats().get("type", JOB_NONE) != JOB_NONE:
                # A start retried after a crash: the migration (ours, by this guest's job) already runs.
                return ref
            thread = threading.Thread(
                target=_migrate, args=(job.pk, job.source_uri, job.target_uri, dom.UUIDString(), job.guest),
                name=f"libvirt migration #{job.pk}", daemon=True,
            )
            _outcomes.pop(job.pk, None)
            _threads[job.pk] = thread
            thread.start()
            deadline = time.monotonic() + float(conf("START_CONFIRM_SECONDS"))
            while time.monotonic() < deadline:
                if not thread.is_alive():
                    error = _outcomes.get(job.pk, "")
                    if error:
                        raise DriverError(error)
                    return ref  # already done (a tiny guest on a fast link)
                if dom.jobStats().get("memory_total"):
                    # Memory is flowing: set-up (where refusals happen) is over, the source's libvirtd drives it.
                    return ref
                time.sleep(0.05)
            return ref  # still setting up: poll will tell how it ends

    # --- poll ---------------------------------------------------------------

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        return call_bounded(self._poll, _job(migration), now, seconds=_bound(), what="libvirt migration poll")

    def _poll(self, job: _Job, now: datetime) -> PollResult:
        libvirt = binding()
        source, target = job.source, job.target
        on_target = None  # libvirt state of the target's copy; None: not there
        running_on_source = False
        target_error = ""
        try:
            with connected(job.target_uri) as conn:
                try:
                    on_target = _lookup(conn, job).state()[0]
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != NO_DOMAIN:
                        raise
        except Exception as exc:
            target_error = error_line(exc, f"reading {target}")
        if on_target == DOMAIN_RUNNING:
            return PollResult(SUCCEEDED, host_name=target, progress=1.0)
        try:
            with connected(job.source_uri) as conn:
                try:
                    dom = _lookup(conn, job)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != NO_DOMAIN:
                        raise
                    dom = None
                if dom is not None:
                    stats = dom.jobStats()
                    if stats.get("type", JOB_NONE) != JOB_NONE:
                        return PollResult(RUNNING, progress=_progress(stats))
                    running_on_source = dom.state()[0] == DOMAIN_RUNNING
        except Exception as exc:
            raise DriverError(error_line(exc, f"reading {source}")) from exc
        if target_error:
            raise DriverError(target_error)  # cannot tell yet: the deadline decides if it lasts
        if dom is None:
            if on_target == PAUSED:
                return PollResult(RUNNING, progress=0.99)  # switching over: the target resumes it next
            return PollResult(FAILED, error=f"guest {job.guest} is on neither {source} nor {target}")
        thread = _threads.get(job.pk)
        if thread is not None and thread.is_alive():
            return PollResult(RUNNING, progress=0.0)
        grace = float(conf("START_GRACE_SECONDS"))
        if job.started_at is not None and (now - job.started_at).total_seconds() < grace:
            return PollResult(RUNNING, progress=0.0)  # the migrate call may not have reached libvirtd yet
        where = "runs" if running_on_source else "is"
        error = _outcomes.get(job.pk) or (
            f"the migration ended without moving the guest: it still {where} on {source} and libvirt has no job"
        )
        return PollResult(FAILED, error=error, host_name=source)

    # --- cancel -------------------------------------------------------------

    def cancel(self, migration: Migration) -> None:
        seconds = _bound() + ABORT_TRIES * ABORT_PAUSE_SECONDS
        call_bounded(self._cancel, _job(migration), seconds=seconds, what="libvirt migration abort")

    def _cancel(self, job: _Job) -> None:
        libvirt = binding()
        with connected(job.source_uri) as conn:
            try:
                dom = _lookup(conn, job)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == NO_DOMAIN:
                    return  # gone from the source: nothing left to abort
                raise
            for _ in range(ABORT_TRIES):
                if dom.jobStats().get("type", JOB_NONE) == JOB_NONE:
                    return
                try:
                    dom.abortJob()
                except libvirt.libvirtError as exc:
                    log.info("abortJob of migration #%s: %s", job.pk, error_line(exc, "abort"))
                time.sleep(ABORT_PAUSE_SECONDS)
        raise DriverError(f"the migration job of {job.guest} on {job.source} did not stop")


def _migrate(pk: int, source_uri: str, target_uri: str, uuid: str, name: str) -> None:
    """The blocking migrate call, in its own thread and connection; records how it ended."""
    try:
        with connected(source_uri) as conn:
            conn.lookupByUUIDString(uuid).migrateToURI3(target_uri, migration_params(), migration_flags())
        _outcomes[pk] = ""
    except Exception as exc:
        _outcomes[pk] = error_line(exc, "migration")
        log.info("migration #%s of %s: %s", pk, name, _outcomes[pk])
    if conf("NOTIFY_WATCHER"):
        _notify_watcher(pk)


def _notify_watcher(pk: int) -> None:
    """Ask for a watcher run now rather than at beat's next one: the outcome is recorded within a second.

    Only a hint (a Celery message, bounded): if it is lost, beat's periodic watcher records it anyway.
    """
    from celery import current_app

    try:
        call_bounded(current_app.send_task, "automigrate.tasks.watch_migrations", seconds=2,
                     what="asking the watcher to look")
    except Exception as exc:
        log.info("migration #%s ended; the watcher was not told (%s), beat's next run records it", pk, exc)
