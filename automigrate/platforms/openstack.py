"""OpenStack Nova: hypervisors and servers of all projects as the inventory, live migration as the driver.

Credentials are the OpenStack way and read by ``openstacksdk`` itself:
``OS_CLOUD`` naming a cloud in ``clouds.yaml`` (``OS_CLIENT_CONFIG_FILE`` to
point at one), or the ``OS_*`` variables (``OS_AUTH_URL``, ``OS_USERNAME``,
…). Keystone, the service catalog and the compute endpoint are openstacksdk's
business; we only send the Nova requests below through its compute adapter,
each with an explicit microversion (the answers' shapes depend on it) and
bounded twice: keystoneauth's per-request timeout
(``AUTOMIGRATE_OPENSTACK_TIMEOUT_SECONDS``) and ``call_bounded`` around the
whole call (token fetch and version discovery included).

Inventory, with the admin role:

- ``GET /os-hypervisors/detail`` (2.53; 2.88 dropped vcpus/memory_mb): a host
  per compute service host (the name ``os-migrateLive`` takes); a hypervisor
  whose state is ``down`` is unreachable, a disabled service is not a target;
- ``GET /os-availability-zone/detail`` and ``GET /os-aggregates``: the host's
  zone (``zone:<az>`` label, the boundary targets stay within) and aggregates
  (``aggregate:<name>`` labels);
- ``GET /servers/detail?all_tenants=1`` (2.47: flavor vCPUs and RAM embedded),
  paged: every server with a host, ``OS-EXT-SRV-ATTR:host`` as where it runs.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.platforms.base import (
    ZONE_LABEL,
    InventoryGuest,
    InventoryHost,
    Platform,
    PlatformError,
    PlatformInventory,
)

# Microversions, chosen per call (see the module doc and the driver).
HYPERVISORS_MV = "2.53"
SERVERS_MV = "2.47"
PAGE = 1000  # Nova's default osapi max_limit

_connections: dict[tuple, Any] = {}
_connections_lock = threading.Lock()


def _timeout() -> float:
    return float(settings.AUTOMIGRATE["OPENSTACK_TIMEOUT_SECONDS"])


def _config_key() -> tuple:
    return (_timeout(), *sorted((k, v) for k, v in os.environ.items() if k.startswith("OS_")))


def problems() -> list[str]:
    """What is wrong with the credentials, one line each (reads clouds.yaml, no network call)."""
    import openstack.config
    from openstack import exceptions

    cloud = os.environ.get("OS_CLOUD", "")
    if not cloud and not os.environ.get("OS_AUTH_URL") and not os.environ.get("OS_AUTH_TYPE"):
        return ["OpenStack credentials missing: set OS_CLOUD (a cloud of your clouds.yaml) or the OS_* variables"
                " (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, …)"]
    try:
        openstack.config.OpenStackConfig().get_one(cloud=cloud or None)
    except (exceptions.ConfigException, exceptions.SDKException, KeyError, ValueError) as exc:
        return [f"OpenStack cloud {cloud or '(from OS_* variables)'}: {str(exc).splitlines()[0]}"]
    return []


def connection():
    """An openstacksdk Connection for the configured cloud, kept per process and configuration."""
    import openstack

    key = _config_key()
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None:
            missing = problems()
            if missing:
                raise PlatformError(missing[0])
            # cloud=None: openstacksdk reads the OS_* variables.
            conn = openstack.connect(cloud=os.environ.get("OS_CLOUD") or None, api_timeout=_timeout())
            _connections[key] = conn
    return conn


def _nova_message(response) -> str:
    """Nova's own words from an error answer: {"badRequest": {"code": 400, "message": "…"}}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"]).strip()
        if body.get("message"):
            return str(body["message"]).strip()
    return (response.text or response.reason or "").strip().splitlines()[0][:300] if response.text else ""


def error_line(exc: BaseException) -> str:
    """A transport or auth error as one readable line."""
    if isinstance(exc, CallTimedOut):
        return f"Nova did not answer in {exc.seconds:g} s ({exc.what})"
    name = exc.__class__.__name__
    text = str(exc).splitlines()[0] if str(exc) else name
    if "Timeout" in name or "timed out" in text.lower():
        return f"Nova did not answer in {_timeout():g} s: {text[:200]}"
    if name in ("ConnectFailure", "ConnectionError", "EndpointNotFound", "DiscoveryFailure"):
        return f"Nova unreachable: {text[:200]}"
    return f"OpenStack: {text[:240]}"


class NovaAnswer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def nova(method: str, path: str, microversion: str, body: dict | None = None, ok=(200, 202, 204)) -> NovaAnswer:
    """One Nova request through openstacksdk, bounded; PlatformError (one line, Nova's words) unless ``ok``."""
    seconds = 2 * _timeout() + 1  # keystoneauth bounds each socket wait; this bounds the whole call

    def call():
        adapter = connection().compute
        return adapter.request(path, method, json=body, microversion=microversion, raise_exc=False)

    try:
        response = call_bounded(call, seconds=seconds, what=f"Nova {method} {path.split('?')[0]}")
    except PlatformError:
        raise
    except Exception as exc:
        raise PlatformError(error_line(exc)) from exc
    if response.status_code not in ok:
        raise PlatformError(f"Nova {response.status_code} on {method} {path.split('?')[0]}: "
                            f"{_nova_message(response) or response.reason}")
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = {}
    return NovaAnswer(response.status_code, data, dict(response.headers))


def _host_type(hypervisor_type: str) -> str:
    kind = (hypervisor_type or "").lower()
    return "kvm" if kind in ("qemu", "kvm", "") else kind


def _arch(cpu_info: Any) -> str:
    if isinstance(cpu_info, dict) and cpu_info.get("arch"):
        return str(cpu_info["arch"])
    return "x86_64"


def _zones() -> dict[str, str]:
    """compute host -> availability zone."""
    zones: dict[str, str] = {}
    for zone in nova("GET", "/os-availability-zone/detail", "2.1").body.get("availabilityZoneInfo", []):
        for host, services in (zone.get("hosts") or {}).items():
            if "nova-compute" in (services or {}):
                zones[host] = zone["zoneName"]
    return zones


def _aggregates() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for aggregate in nova("GET", "/os-aggregates", "2.41").body.get("aggregates", []):
        for host in aggregate.get("hosts") or ():
            found.setdefault(host, []).append(aggregate["name"])
    return found


def servers() -> list[dict]:
    """Every server of every project (paged by marker)."""
    found: list[dict] = []
    marker = ""
    while True:
        page = nova("GET", f"/servers/detail?all_tenants=1&limit={PAGE}{marker}", SERVERS_MV).body.get("servers", [])
        found.extend(page)
        if len(page) < PAGE:
            return found
        marker = f"&marker={page[-1]['id']}"


def server(server_id: str) -> dict:
    return nova("GET", f"/servers/{server_id}", SERVERS_MV).body["server"]


def guest_status(row: dict) -> str:
    """Nova's status and task state as Guest.Status: only ACTIVE with no task in progress is running."""
    status, task = row.get("status", ""), row.get("OS-EXT-STS:task_state")
    if status == "MIGRATING" or task == "migrating":
        return "migrating"
    if status == "ACTIVE":
        return "running" if not task else "unknown"
    if status in ("SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED", "STOPPED"):
        return "stopped"
    return "unknown"


class OpenStackPlatform(Platform):
    name = "openstack"
    driver = "automigrate.drivers.openstack.OpenStackDriver"
    host_label_prefixes = (ZONE_LABEL, "aggregate:")

    def check(self) -> list[str]:
        return problems()

    def read_inventory(self) -> PlatformInventory:
        inventory = PlatformInventory()
        zones, aggregates = _zones(), _aggregates()
        seen: set[str] = set()
        for hv in nova("GET", "/os-hypervisors/detail", HYPERVISORS_MV).body.get("hypervisors", []):
            host = (hv.get("service") or {}).get("host") or hv.get("hypervisor_hostname")
            if not host or host in seen:  # one host per compute service (Ironic has many nodes)
                continue
            seen.add(host)
            if hv.get("state") != "up":
                inventory.unreachable[host] = f"nova-compute on {host} is {hv.get('state', 'unknown')}"
                continue
            labels = [f"aggregate:{name}" for name in aggregates.get(host, ())]
            if zones.get(host):
                labels.append(ZONE_LABEL + zones[host])
            inventory.hosts.append(InventoryHost(
                name=host, external_id=host, cpu_count=int(hv.get("vcpus") or 0),
                mem_total=int(hv.get("memory_mb") or 0) * 1024 * 1024,
                host_type=_host_type(hv.get("hypervisor_type", "")), cpu_arch=_arch(hv.get("cpu_info")),
                enabled=hv.get("status") == "enabled", labels=tuple(sorted(labels)),
            ))
        rows = [r for r in servers() if r.get("OS-EXT-SRV-ATTR:host")]  # unscheduled ones run nowhere
        names = [r.get("name") or r["id"] for r in rows]
        for row in rows:
            name = row.get("name") or row["id"]
            # Nova names need not be unique (not even in a project); ours are.
            if names.count(name) > 1:
                name = f"{name}-{row['id'][:8]}"
            flavor = row.get("flavor") or {}
            inventory.guests.append(InventoryGuest(
                name=name, external_id=row["id"], host_external_id=row["OS-EXT-SRV-ATTR:host"],
                vcpu_count=max(1, int(flavor.get("vcpus") or 1)), vmem_size=max(1, int(flavor.get("ram") or 1)),
                status=guest_status(row),
            ))
        return inventory
