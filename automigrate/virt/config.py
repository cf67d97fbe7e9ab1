"""The libvirt settings: which hosts, how to reach them, how to migrate.

``AUTOMIGRATE_LIBVIRT_HOSTS="h1=qemu+ssh://root@h1/system,h2=qemu+tls://h2/system"``:
each host's name (as automigrate shows it) and libvirt URI, split at the first
``=`` (a URI may hold ``?socket=…``). The same URI is handed to the source's
libvirtd as the peer-to-peer destination, so it must work from every host,
not only from automigrate's machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

URI_SCHEMES = ("qemu", "qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+unix", "qemu+libssh", "qemu+libssh2", "test")
HOST_CPU_CHOICES = ("host", "guests")


class LibvirtConfigError(ValueError):
    """A libvirt setting is wrong; the message names it and says what is allowed."""


@dataclass(frozen=True)
class LibvirtHost:
    name: str
    uri: str


def parse_hosts(raw: str) -> list[LibvirtHost]:
    """``name=uri,name=uri`` -> hosts; LibvirtConfigError naming the bad item."""
    hosts: list[LibvirtHost] = []
    for position, item in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not item:
            continue
        name, sep, uri = item.partition("=")
        name, uri = name.strip(), uri.strip()
        if not sep or not name or not uri:
            raise LibvirtConfigError(
                f"AUTOMIGRATE_LIBVIRT_HOSTS item {position} ({item!r}): write name=uri, e.g. h1=qemu+ssh://root@h1/system"
            )
        scheme = uri.split(":", 1)[0]
        if scheme not in URI_SCHEMES:
            raise LibvirtConfigError(
                f"AUTOMIGRATE_LIBVIRT_HOSTS item {position} ({name}): URI scheme {scheme!r} is not one of "
                f"{', '.join(URI_SCHEMES)}"
            )
        if any(h.name == name for h in hosts):
            raise LibvirtConfigError(f"AUTOMIGRATE_LIBVIRT_HOSTS item {position}: host name {name!r} appears twice")
        hosts.append(LibvirtHost(name, uri))
    return hosts


def conf(key: str):
    return settings.AUTOMIGRATE[f"LIBVIRT_{key}"]


def configured_hosts() -> list[LibvirtHost]:
    return parse_hosts(conf("HOSTS") or "")


def host_uri(name: str) -> str:
    """The URI of the host automigrate calls ``name``; LibvirtConfigError if it has none."""
    for host in configured_hosts():
        if host.name == name:
            return host.uri
    raise LibvirtConfigError(f"host {name} is not in AUTOMIGRATE_LIBVIRT_HOSTS")


def problems() -> list[str]:
    """Configuration problems, one line each (the system check shows them)."""
    found = []
    try:
        hosts = configured_hosts()
    except LibvirtConfigError as exc:
        return [str(exc)]
    if not hosts:
        found.append("AUTOMIGRATE_LIBVIRT_HOSTS is empty: list the hosts as name=uri,name=uri")
    if conf("HOST_CPU") not in HOST_CPU_CHOICES:
        found.append(f"AUTOMIGRATE_LIBVIRT_HOST_CPU={conf('HOST_CPU')!r}: use {' or '.join(HOST_CPU_CHOICES)}")
    for key in ("CONNECT_TIMEOUT_SECONDS", "CALL_TIMEOUT_SECONDS"):
        if conf(key) <= 0:
            found.append(f"AUTOMIGRATE_LIBVIRT_{key}={conf(key)!r}: must be above 0")
    if conf("BANDWIDTH_MIB_S") < 0:
        found.append(f"AUTOMIGRATE_LIBVIRT_BANDWIDTH_MIB_S={conf('BANDWIDTH_MIB_S')!r}: must be 0 (no cap) or more")
    return found
