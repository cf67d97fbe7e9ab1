"""Proxmox VE live migration: ``POST /nodes/{node}/qemu/{vmid}/migrate`` and its task.

Start answers a task id (UPID) at once; the migration runs as a ``qmigrate``
task on the source node. The UPID names that node, so any worker can poll
``/nodes/{node}/tasks/{upid}/status`` from the Migration row alone. A task
that ends "OK" is only half the answer: success is the VM running on the
target node (``/cluster/resources``), which is what we check. Cancel stops the
task (``DELETE`` on it): Proxmox then leaves the VM running on its source.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from automigrate.drivers.base import FAILED, RUNNING, SUCCEEDED, DriverError, MigrationDriver, PollResult
from automigrate.models import Migration
from automigrate.platforms.base import PlatformError
from automigrate.platforms.proxmox import api, error_line, resources


def _node(host) -> str:
    return host.external_id or host.name


def _vmid(migration: Migration) -> int:
    try:
        return int(migration.guest.external_id)
    except ValueError:
        raise DriverError(
            f"guest {migration.guest.name} has no Proxmox vmid (external_id {migration.guest.external_id!r}):"
            " run `manage.py inventory sync`"
        ) from None


def _task_node(upid: str) -> str:
    parts = upid.split(":")
    if len(parts) < 3 or parts[0] != "UPID":
        raise DriverError(f"not a Proxmox task id: {upid!r}")
    return parts[1]


class ProxmoxDriver(MigrationDriver):
    name = "proxmox"

    def precheck(self, migration: Migration) -> str | None:
        source, target, vmid = _node(migration.source), _node(migration.target), _vmid(migration)
        try:
            info = api().nodes(source).qemu(vmid).migrate.get(target=target)
        except Exception as exc:
            return error_line(exc)
        if not info.get("running"):
            return f"VM {vmid} is not running on {source}: only running VMs are live-migrated"
        refused = (info.get("not_allowed_nodes") or {}).get(target)
        if refused is not None:
            storages = ", ".join(refused.get("unavailable_storages") or []) or "not allowed"
            return f"Proxmox refuses {target} as target for VM {vmid}: {storages}"
        if info.get("local_disks") and not settings.AUTOMIGRATE["PROXMOX_WITH_LOCAL_DISKS"]:
            disks = ", ".join(d.get("volid", "?") for d in info["local_disks"])
            return f"VM {vmid} has local disks ({disks}): set AUTOMIGRATE_PROXMOX_WITH_LOCAL_DISKS=1 to copy them"
        return None

    def start(self, migration: Migration, now: datetime) -> str:
        source, vmid = _node(migration.source), _vmid(migration)
        body = {"target": _node(migration.target), "online": 1}
        if settings.AUTOMIGRATE["PROXMOX_WITH_LOCAL_DISKS"]:
            body["with-local-disks"] = 1
        try:
            upid = api().nodes(source).qemu(vmid).migrate.post(**body)
        except Exception as exc:
            raise DriverError(error_line(exc)) from exc
        if not isinstance(upid, str) or not upid.startswith("UPID:"):
            raise DriverError(f"Proxmox answered {upid!r} instead of a task id")
        return upid

    def poll(self, migration: Migration, now: datetime) -> PollResult:
        upid = migration.driver_ref
        try:
            task = api().nodes(_task_node(upid)).tasks(upid).status.get()
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(error_line(exc)) from exc
        if task.get("status") == "running":
            return PollResult(RUNNING)
        where = self._where(migration)
        target = _node(migration.target)
        exitstatus = task.get("exitstatus", "")
        if exitstatus != "OK":
            return PollResult(FAILED, error=f"Proxmox task {upid} ended: {exitstatus or 'no exit status'}",
                              host_name=self._host_name(where))
        if where == target:
            return PollResult(SUCCEEDED, host_name=migration.target.name)
        return PollResult(
            FAILED, error=f"Proxmox task ended OK but VM {_vmid(migration)} is on {where or 'no node'}, not {target}",
            host_name=self._host_name(where),
        )

    def cancel(self, migration: Migration) -> None:
        upid = migration.driver_ref
        if not upid:
            return
        try:
            api().nodes(_task_node(upid)).tasks(upid).delete()
        except Exception as exc:
            raise DriverError(error_line(exc)) from exc

    def _where(self, migration: Migration) -> str | None:
        """The node the VM is on now, from the cluster's own view."""
        vmid = _vmid(migration)
        try:
            rows = resources("vm")
        except PlatformError as exc:
            raise DriverError(str(exc)) from exc
        return next((r.get("node") for r in rows if r.get("vmid") == vmid and r.get("type") == "qemu"), None)

    @staticmethod
    def _host_name(node: str | None) -> str | None:
        from automigrate.models import Host

        if node is None:
            return None
        host = Host.objects.filter(external_id=node).first() or Host.objects.filter(name=node).first()
        return host.name if host else None
