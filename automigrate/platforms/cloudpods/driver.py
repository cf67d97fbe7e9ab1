"""Cloudpods live migration: forecast, ``live-migrate``, follow ``GET /servers/{id}``, cancel.

As Cloudpods' region has it:

- precheck: ``POST /servers/{id}/migrate-forecast`` (live, the preferred host); a
  refusal, synchronous or ``can_create`` false, is why the move cannot start;
- start: ``POST /servers/{id}/live-migrate`` with ``prefer_host_id``, ``skip_cpu_check``,
  ``skip_kernel_check`` (and ``max_bandwidth_mb`` when set); the synchronous refusals
  ("Cannot live migrate in status …", "Host … not found", "Not allow for hypervisor …")
  are DriverErrors carrying Cloudpods' message (the execution service records them as
  ``migrate_error``);
- poll: ``start_migrate`` / ``migrating`` / ``live_migrating`` are running (``host_id``
  already switches during ``live_migrating``, so only ``running`` decides); ``running``
  on the target is success, on the source or on a third host failure naming it; a
  ``*_fail`` / ``*_failed`` status is failure with the reason from the region's
  operation log (``GET /events?obj_id=…&action=migrate_fail``), then a ``syncstatus``
  as the original monitor does; a server that no longer exists is a failure too;
- cancel (on timeout): ``POST /servers/{id}/cancel-live-migrate``, only while
  ``live_migrating``, then wait (bounded) for the server to settle, so the next poll
  tells where it ended.

``driver_ref`` is the server's Cloudpods id; source and target come from the
Migration row, so any worker can follow any migration.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.models import Host, Migration
from automigrate.platforms.cloudpods.client import CloudpodsClient, CloudpodsError, NotFound, event_note
from automigrate.platforms.cloudpods.platform import MIGRATING_STATUSES, client_from_settings

log = logging.getLogger(__name__)

SETTLE_POLL_SECONDS = 1.0


def is_failure_status(status: str) -> bool:
    return status.endswith("_fail") or status.endswith("_failed")


class CloudpodsDriver(MigrationDriver):
    name = "cloudpods"

    def __init__(self, client: CloudpodsClient | None = None):
        self._client = client

    @property
    def client(self) -> CloudpodsClient:
        if self._client is None:
            self._client = client_from_settings()
        return self._client

    @staticmethod
    def _conf(key: str):
        return settings.AUTOMIGRATE["CLOUDPODS"][key]

    @staticmethod
    def _ids(migration: Migration) -> tuple[str, str]:
        server_id, target_id = migration.guest.external_id, migration.target.external_id
        if not server_id or not target_id:
            raise DriverError(
                f"{migration.guest.name} or {migration.target.name} has no Cloudpods id: run `manage.py inventory sync`"
            )
        return server_id, target_id

    def precheck(self, migration: Migration) -> str | None:
        try:
            server_id, target_id = self._ids(migration)
            forecast = self.client.migrate_forecast(server_id, {
                "live_migrate": True, "prefer_host_id": target_id, "skip_cpu_check": bool(self._conf("SKIP_CPU_CHECK")),
            })
        except DriverError as exc:
            return str(exc)
        except CloudpodsError as exc:
            return f"Cloudpods migrate-forecast refused: {exc}"
        # Cloudpods leaves out false values: no can_create means it cannot.
        if forecast.get("can_create"):
            return None
        reasons = [str(r) for r in forecast.get("not_allow_reasons") or []]
        for candidate in forecast.get("filtered_candidates") or []:
            if isinstance(candidate, dict) and target_id in (candidate.get("id"), candidate.get("name")):
                reasons += [str(r) for r in candidate.get("reasons") or []]
        why = "; ".join(dict.fromkeys(reasons)) or "no reason given"
        guest, target = migration.guest.name, migration.target.name
        return f"Cloudpods migrate-forecast: {guest} cannot live-migrate to {target}: {why}"

    def start(self, migration: Migration, now: datetime) -> str:
        server_id, target_id = self._ids(migration)
        options: dict = {
            "prefer_host_id": target_id,
            "skip_cpu_check": bool(self._conf("SKIP_CPU_CHECK")),
            "skip_kernel_check": bool(self._conf("SKIP_KERNEL_CHECK")),
        }
        if self._conf("MAX_BANDWIDTH_MB"):
            options["max_bandwidth_mb"] = int(self._conf("MAX_BANDWIDTH_MB"))
        try:
            self.client.live_migrate(server_id, options)
        except CloudpodsError as exc:
            raise DriverError(str(exc)) from None
        return server_id

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        server_id = migration.driver_ref or migration.guest.external_id
        try:
            server = self.client.server(server_id)
        except NotFound:
            return PollResult(FAILED, error=f"the server {server_id} no longer exists in Cloudpods")
        status = str(server.get("status") or "")
        where = str(server.get("host_id") or "")
        if status in MIGRATING_STATUSES:
            return PollResult(RUNNING)
        landed = self._host_name(where, server)
        if status == "running":
            if where == migration.target.external_id:
                return PollResult(SUCCEEDED, host_name=migration.target.name)
            if where == migration.source.external_id:
                return PollResult(FAILED, host_name=migration.source.name,
                                  error=f"Cloudpods reports it running on its source {migration.source.name} again")
            return PollResult(FAILED, host_name=landed,
                              error=f"Cloudpods reports it running on {landed or '?'} (host id {where}),"
                                    f" neither its source nor the target {migration.target.name}")
        if is_failure_status(status):
            reason = self._failure_reason(server_id)
            self._syncstatus(server_id)
            return PollResult(FAILED, host_name=landed, error=f"Cloudpods status {status}: {reason}")
        # Anything else (syncing, a status this driver does not know): wait; the deadline bounds it.
        return PollResult(RUNNING)

    def cancel(self, migration: Migration) -> None:
        server_id = migration.driver_ref or migration.guest.external_id
        try:
            status = str(self.client.server(server_id).get("status") or "")
            if status != "live_migrating":
                return  # Cloudpods only cancels a live_migrating server
            self.client.cancel_live_migrate(server_id)
        except CloudpodsError as exc:
            log.warning("Cloudpods cancel-live-migrate of %s: %s", server_id, exc)
            return
        # Cancelling fails the migration, then the server syncs back to running on its source:
        # wait (bounded) for that, so the watcher's next poll records where it really is.
        deadline = time.monotonic() + float(self._conf("CANCEL_SETTLE_SECONDS"))
        while time.monotonic() < deadline:
            try:
                status = str(self.client.server(server_id).get("status") or "")
            except CloudpodsError:
                return
            if status not in MIGRATING_STATUSES and not is_failure_status(status):
                return
            time.sleep(SETTLE_POLL_SECONDS)

    def _failure_reason(self, server_id: str) -> str:
        try:
            events = self.client.events(server_id, "migrate_fail")
        except CloudpodsError as exc:
            return f"reason not read from the operation log ({exc})"
        if not events:
            return "no migrate_fail entry in the operation log"
        latest = max(events, key=lambda e: (str(e.get("ops_time") or ""), str(e.get("id") or "")))
        return event_note(latest) or "the operation log entry has no notes"

    def _syncstatus(self, server_id: str) -> None:
        try:
            self.client.syncstatus(server_id)
        except CloudpodsError as exc:
            log.warning("Cloudpods syncstatus of %s: %s", server_id, exc)

    @staticmethod
    def _host_name(host_id: str, server: dict) -> str | None:
        """Our name for the host a server runs on (names come from Cloudpods, so its ``host`` works too)."""
        if not host_id:
            return None
        name = Host.objects.filter(external_id=host_id).values_list("name", flat=True).first()
        return name or (str(server.get("host")) if server.get("host") else None)
