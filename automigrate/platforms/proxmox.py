"""Proxmox VE: inventory from ``/cluster/resources``, migrations through ``qm migrate``'s API.

Talks to the cluster through ``proxmoxer`` with an API token
(``AUTOMIGRATE_PROXMOX_TOKEN_ID`` = ``user@realm!tokenid``, ``_TOKEN_SECRET``),
TLS verified by default (``AUTOMIGRATE_PROXMOX_VERIFY_TLS``: on, off, or the
path of a CA bundle), every request bounded by ``_TIMEOUT_SECONDS``.

One ``GET /cluster/resources`` answers the whole inventory: nodes are hosts
(their name is Proxmox's id for them), QEMU VMs are guests (``vmid`` as
``external_id``). Containers are not live-migratable and are left out.
Templates, stopped VMs and VMs tagged ``plb_ignore`` (ProxLB's tag) are kept
visible but never moved; ProxLB's other tags are kept as ``tag:…`` labels.
"""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings

from automigrate.platforms.base import InventoryGuest, InventoryHost, Platform, PlatformError, PlatformInventory

MiB = 1024 * 1024
# ProxLB's "leave this VM alone" tag.
IGNORE_TAGS = {"plb_ignore"}


def _conf(key: str):
    return settings.AUTOMIGRATE[f"PROXMOX_{key}"]


def _verify() -> bool | str:
    value = str(_conf("VERIFY_TLS")).strip()
    if value.lower() in ("1", "true", "yes", "on", ""):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    return value  # a CA bundle's path, handed to requests


def problems() -> list[str]:
    """What is missing from the configuration, one line each (no network call)."""
    found = []
    url = urlparse(_conf("URL") or "")
    if url.scheme != "https" or not url.hostname:
        found.append(f"AUTOMIGRATE_PROXMOX_URL={_conf('URL')!r}: use https://HOST[:8006]")
    token_id = _conf("TOKEN_ID") or ""
    if "@" not in token_id or "!" not in token_id:
        found.append(f"AUTOMIGRATE_PROXMOX_TOKEN_ID={token_id!r}: use USER@REALM!TOKENID, as Proxmox shows it")
    if not _conf("TOKEN_SECRET"):
        found.append("AUTOMIGRATE_PROXMOX_TOKEN_SECRET is not set")
    return found


def api():
    """A proxmoxer client for the configured cluster; PlatformError if the settings are incomplete."""
    from proxmoxer import ProxmoxAPI

    missing = problems()
    if missing:
        raise PlatformError(missing[0])
    url = urlparse(_conf("URL"))
    user, token_name = _conf("TOKEN_ID").split("!", 1)
    return ProxmoxAPI(
        url.hostname, port=url.port or 8006, user=user, token_name=token_name, token_value=_conf("TOKEN_SECRET"),
        verify_ssl=_verify(), timeout=float(_conf("TIMEOUT_SECONDS")), service="PVE",
    )


def error_line(exc: Exception) -> str:
    """A proxmoxer or connection error as one readable line, keeping Proxmox's status code."""
    from proxmoxer import ResourceException

    if isinstance(exc, ResourceException):
        detail = exc.content or exc.status_message
        if isinstance(exc.errors, dict) and exc.errors:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        return f"Proxmox {exc.status_code}: {detail}".strip()
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "timed out" in text.lower() or exc.__class__.__name__.endswith("Timeout"):
        return f"Proxmox at {_conf('URL')} did not answer in {float(_conf('TIMEOUT_SECONDS')):g} s"
    return f"Proxmox at {_conf('URL')} unreachable: {text[:200]}"


def resources(kind: str | None = None) -> list[dict]:
    try:
        return api().cluster.resources.get(**({"type": kind} if kind else {}))
    except PlatformError:
        raise
    except Exception as exc:
        raise PlatformError(error_line(exc)) from exc


def guest_labels(row: dict) -> tuple[str, ...]:
    tags = {t for t in (row.get("tags") or "").replace(",", ";").split(";") if t}
    labels = {f"tag:{t}" for t in tags}
    if tags & IGNORE_TAGS or row.get("template"):
        labels.add("never-migrate")
    return tuple(sorted(labels))


def _guest_status(row: dict) -> str:
    if row.get("lock") == "migrate":
        return "migrating"
    return {"running": "running", "stopped": "stopped"}.get(row.get("status", ""), "unknown")


class ProxmoxPlatform(Platform):
    name = "proxmox"
    driver = "automigrate.drivers.proxmox.ProxmoxDriver"

    def check(self) -> list[str]:
        return problems()

    def read_inventory(self) -> PlatformInventory:
        rows = resources()
        inventory = PlatformInventory()
        for row in rows:
            if row.get("type") != "node":
                continue
            if row.get("status") != "online":
                # An offline node reports no capacity: keep what we knew, take it out of play.
                inventory.unreachable[row["node"]] = f"node status is {row.get('status', 'unknown')}"
                continue
            if not row.get("maxcpu") or not row.get("maxmem"):
                inventory.unreachable[row["node"]] = "node reports no CPUs or memory"
                continue
            inventory.hosts.append(InventoryHost(
                name=row["node"], external_id=row["node"], cpu_count=int(row["maxcpu"]),
                mem_total=int(row["maxmem"]), host_type="kvm",
            ))
        names = [r.get("name") or f"vm-{r['vmid']}" for r in rows if r.get("type") == "qemu"]
        for row in rows:
            if row.get("type") != "qemu":
                continue
            name = row.get("name") or f"vm-{row['vmid']}"
            # VM names need not be unique in a Proxmox cluster; ours are, so a clash gets its vmid.
            if names.count(name) > 1:
                name = f"{name}-{row['vmid']}"
            inventory.guests.append(InventoryGuest(
                name=name, external_id=str(row["vmid"]), host_external_id=row["node"],
                vcpu_count=max(1, int(row.get("maxcpu") or 1)), vmem_size=max(1, int(row.get("maxmem") or 0) // MiB),
                status=_guest_status(row), labels=guest_labels(row),
            ))
        return inventory
