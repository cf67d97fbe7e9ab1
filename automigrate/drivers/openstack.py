"""OpenStack Nova live migration: ``os-migrateLive`` to the chosen host, followed through its migration record.

- start: ``POST /servers/{id}/action {"os-migrateLive": {"host": …, "block_migration": "auto"}}``
  at microversion 2.30 (the host goes through the scheduler's filters, not forced; below 2.34
  Nova answers the conductor's pre-checks in the request, so a refused host, e.g. a disabled
  compute service or one without room, is a 400 with Nova's reason right away);
- poll: the server (``OS-EXT-SRV-ATTR:host``, status, task state) and its migration record
  (``GET /os-migrations?instance_uuid=…``: ``GET /servers/{id}/migrations`` lists only
  migrations in progress). Success is the server ACTIVE on the target host with no task left
  (Nova moves the server before the record says ``completed``); a record in ``error``,
  ``failed`` or ``cancelled``, or a server that ends up elsewhere, is a failure with Nova's
  reason (the instance action's event details, 2.84);
- cancel: ``DELETE /servers/{id}/migrations/{mid}`` (aborts queued and running ones, 2.65+).

The driver ref is ``server_id|last migration id before ours|request id``, so any worker can
find our migration record and Nova's words about it from the Migration row alone.
"""

from __future__ import annotations

from datetime import datetime

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.models import Migration
from automigrate.platforms.base import PlatformError
from automigrate.platforms.openstack import nova, server

START_MV = "2.30"
MIGRATIONS_MV = "2.80"
ACTIONS_MV = "2.84"
FAILED_STATES = {"error", "failed", "cancelled"}


def _host(host) -> str:
    return host.external_id or host.name


def _server_id(migration: Migration) -> str:
    server_id = migration.guest.external_id
    if not server_id:
        raise DriverError(f"guest {migration.guest.name} has no Nova server id: run `manage.py inventory sync`")
    return server_id


def _ref(ref: str) -> tuple[str, int, str]:
    parts = (ref or "").split("|")
    if len(parts) != 3 or not parts[1].isdigit():
        raise DriverError(f"not an OpenStack migration reference: {ref!r}")
    return parts[0], int(parts[1]), parts[2]


def _migrations(server_id: str) -> list[dict]:
    """This server's live migrations, every state, as Nova's migration records."""
    body = nova("GET", f"/os-migrations?instance_uuid={server_id}&migration_type=live-migration",
                MIGRATIONS_MV).body
    return body.get("migrations", [])


class OpenStackDriver(MigrationDriver):
    name = "openstack"

    def start(self, migration: Migration, now: datetime) -> str:
        server_id, target = _server_id(migration), _host(migration.target)
        body = {"os-migrateLive": {"host": target, "block_migration": "auto"}}
        try:
            before = max((m["id"] for m in _migrations(server_id)), default=0)
            answer = nova("POST", f"/servers/{server_id}/action", START_MV, body, ok=(202,))
        except PlatformError as exc:
            raise DriverError(f"Nova refused to move {migration.guest.name} to {target}: {_after_colon(exc)}") from exc
        request_id = answer.headers.get("x-openstack-request-id") or answer.headers.get("X-Openstack-Request-Id", "")
        return f"{server_id}|{before}|{request_id}"

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        server_id, before, request_id = _ref(migration.driver_ref)
        target = _host(migration.target)
        try:
            row = server(server_id)
            ours = sorted((m for m in _migrations(server_id) if m["id"] > before), key=lambda m: m["id"])
        except PlatformError as exc:
            raise DriverError(str(exc)) from exc
        record = ours[0] if ours else None
        where = row.get("OS-EXT-SRV-ATTR:host")
        settled = row.get("status") == "ACTIVE" and not row.get("OS-EXT-STS:task_state")
        if row.get("status") == "ERROR":
            fault = (row.get("fault") or {}).get("message") or "no fault message"
            return PollResult(FAILED, error=f"Nova put server {server_id} in ERROR: {fault}",
                              host_name=self._host_name(where))
        if settled and where == target:
            return PollResult(SUCCEEDED, host_name=migration.target.name)
        if record is not None and record.get("status") in FAILED_STATES:
            reason = self._reason(server_id, request_id) or f"migration {record['id']} is {record['status']}"
            return PollResult(FAILED, error=f"Nova live migration {record['status']}: {reason}",
                              host_name=self._host_name(where))
        if settled and record is not None and record.get("status") in ("completed", "done"):
            return PollResult(FAILED, error=f"Nova says migration {record['id']} completed but server {server_id}"
                              f" is on {where or 'no host'}, not {target}", host_name=self._host_name(where))
        return PollResult(RUNNING)

    def cancel(self, migration: Migration) -> None:
        if not migration.driver_ref:
            return
        server_id, before, _ = _ref(migration.driver_ref)
        try:
            running = nova("GET", f"/servers/{server_id}/migrations", MIGRATIONS_MV).body.get("migrations", [])
            for record in running:
                if record["id"] > before:
                    nova("DELETE", f"/servers/{server_id}/migrations/{record['id']}", MIGRATIONS_MV, ok=(202,))
        except PlatformError as exc:
            raise DriverError(str(exc)) from exc

    @staticmethod
    def _reason(server_id: str, request_id: str) -> str:
        """Nova's own words on why: the failed event of the instance action our request started."""
        if not request_id:
            return ""
        try:
            action = nova("GET", f"/servers/{server_id}/os-instance-actions/{request_id}", ACTIONS_MV).body
        except PlatformError:
            return ""
        events = (action.get("instanceAction") or {}).get("events") or []
        for event in events:
            if (event.get("result") or "").lower() == "error":
                detail = (event.get("details") or "").strip().splitlines()
                return f"{event.get('event')}: {detail[0] if detail else 'error'}"
        return ""

    @staticmethod
    def _host_name(node: str | None) -> str | None:
        from automigrate.models import Host

        if not node:
            return None
        host = Host.objects.filter(external_id=node).first() or Host.objects.filter(name=node).first()
        return host.name if host else None


def _after_colon(exc: PlatformError) -> str:
    """'Nova 400 on POST /servers/…/action: No valid host…' -> 'Nova 400: No valid host…'."""
    text = str(exc)
    head, sep, tail = text.partition(": ")
    if sep and head.startswith("Nova ") and " on " in head:
        return f"{head.split(' on ')[0]}: {tail}"
    return text
