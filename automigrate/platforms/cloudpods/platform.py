"""Cloudpods' inventory: ``GET /hosts`` and ``GET /servers?scope=system``, read as automigrate's.

What maps to what (Cloudpods' field → automigrate's):

- host ``id`` → external_id, ``name``, ``cpu_count``, ``mem_size`` (MB) → mem_total
  (bytes), ``host_type`` (``hypervisor`` is Cloudpods' word for KVM → ``kvm``; other
  types keep their name, so guests only ever move between hosts of one type),
  ``cpu_architecture`` → cpu_arch, ``enabled`` (left out when false, as Cloudpods
  leaves out every zero value) → enabled;
- a host whose ``host_status`` is not ``online`` (its host agent does not answer) is
  reported *unreachable*: offline here, neither source nor target, its servers left
  where they were until it answers again. A disabled but online host is listed with
  enabled=False: never a target, and its servers are kept but never moved (see
  ``_guest``), so it is not a source either;
- server ``id`` → external_id, ``name``, ``host_id``, ``vcpu_count``, ``vmem_size`` (MB);
  ``status`` ``running`` → running, the migration statuses → migrating, ``ready`` /
  ``suspend`` → stopped, anything else → unknown: only running guests are candidates;
  a server whose ``hypervisor`` is not ``kvm`` gets the ``never-migrate`` label.
"""

from __future__ import annotations

from django.conf import settings

from automigrate.platforms.base import InventoryGuest, InventoryHost, Platform, PlatformInventory
from automigrate.platforms.cloudpods.client import CloudpodsClient, CloudpodsConfig

MIB = 1024 * 1024
KVM_HOST_TYPE = "hypervisor"
MIGRATING_STATUSES = frozenset({"start_migrate", "migrating", "live_migrating"})
STOPPED_STATUSES = frozenset({"ready", "suspend"})
NEVER_MIGRATE = "never-migrate"
REQUIRED = ("AUTH_URL", "USERNAME", "PASSWORD")


def config_from_settings() -> CloudpodsConfig:
    conf = settings.AUTOMIGRATE["CLOUDPODS"]
    return CloudpodsConfig(
        auth_url=conf["AUTH_URL"], username=conf["USERNAME"], password=conf["PASSWORD"],
        project=conf["PROJECT"] or "system", domain=conf["DOMAIN"] or "Default", region=conf["REGION"],
        verify_tls=conf["VERIFY_TLS"], timeout_seconds=float(conf["TIMEOUT_SECONDS"]),
    )


def missing_settings() -> list[str]:
    """The required variables that are not set (AUTH_URL, USERNAME, PASSWORD)."""
    conf = settings.AUTOMIGRATE["CLOUDPODS"]
    return [f"AUTOMIGRATE_CLOUDPODS_{key}" for key in REQUIRED if not conf[key]]


def client_from_settings() -> CloudpodsClient:
    from automigrate.platforms.cloudpods.store import DatabaseStore

    return CloudpodsClient(config_from_settings(), DatabaseStore())


def host_type(raw: str | None) -> str:
    return "kvm" if (raw or KVM_HOST_TYPE) == KVM_HOST_TYPE else str(raw)


def guest_status(raw: str | None) -> str:
    raw = raw or ""
    if raw == "running":
        return "running"
    if raw in MIGRATING_STATUSES:
        return "migrating"
    if raw in STOPPED_STATUSES:
        return "stopped"
    return "unknown"


class CloudpodsPlatform(Platform):
    name = "cloudpods"
    driver = "automigrate.platforms.cloudpods.driver.CloudpodsDriver"

    def __init__(self, client: CloudpodsClient | None = None):
        self._client = client

    @property
    def client(self) -> CloudpodsClient:
        if self._client is None:
            self._client = client_from_settings()
        return self._client

    def read_inventory(self) -> PlatformInventory:
        hosts, unreachable, disabled = [], {}, set()
        for row in self.client.hosts():
            host_id = str(row.get("id") or "")
            if not host_id:
                continue
            if (row.get("host_status") or "") != "online":
                unreachable[host_id] = f"host_status is {row.get('host_status') or 'unknown'} in Cloudpods"
                continue
            enabled = bool(row.get("enabled", False))
            if not enabled:
                disabled.add(host_id)
            hosts.append(InventoryHost(
                name=str(row.get("name") or host_id), external_id=host_id,
                cpu_count=int(row.get("cpu_count") or 0), mem_total=int(row.get("mem_size") or 0) * MIB,
                host_type=host_type(row.get("host_type")),
                cpu_arch=str(row.get("cpu_architecture") or "x86_64"), enabled=enabled,
            ))
        guests = [
            guest for row in self.client.servers()
            if (guest := self._guest(row, disabled)) is not None
        ]
        return PlatformInventory(hosts=hosts, guests=guests, unreachable=unreachable)

    @staticmethod
    def _guest(row: dict, disabled_hosts: set[str]) -> InventoryGuest | None:
        server_id, host_id = str(row.get("id") or ""), str(row.get("host_id") or "")
        if not server_id or not host_id:  # not placed on a host (yet): nothing to balance
            return None
        status = guest_status(row.get("status"))
        if host_id in disabled_hosts and status == "running":
            # Kept and visible, never moved: a disabled host is no source. "unknown" rather
            # than a label, because platform labels are never taken away again.
            status = "unknown"
        labels = () if (row.get("hypervisor") or "") == "kvm" else (NEVER_MIGRATE,)
        return InventoryGuest(
            name=str(row.get("name") or server_id), external_id=server_id, host_external_id=host_id,
            vcpu_count=int(row.get("vcpu_count") or 0), vmem_size=int(row.get("vmem_size") or 0),
            status=status, labels=labels,
        )

    def check(self) -> list[str]:
        missing = missing_settings()
        if missing:
            return [f"AUTOMIGRATE_PLATFORM=cloudpods needs {', '.join(missing)}"]
        failure = self._stored_failure()
        if failure is not None and failure.failure_kind != "unreachable":
            return [f"Cloudpods login failed at {failure.failed_at:%Y-%m-%d %H:%M:%S}Z: {failure.failure}"]
        return []

    def warnings(self) -> list[str]:
        failure = self._stored_failure()
        if failure is not None and failure.failure_kind == "unreachable":
            return [f"Cloudpods' Keystone did not answer at {failure.failed_at:%Y-%m-%d %H:%M:%S}Z:"
                    f" {failure.failure}"]
        return []

    @staticmethod
    def _stored_failure():
        from django.db import DatabaseError

        from automigrate.platforms.cloudpods.store import stored_failure

        try:
            return stored_failure(config_from_settings().fingerprint)
        except DatabaseError:  # before `migrate` created the table
            return None
