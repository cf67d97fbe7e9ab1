"""Bring Host and Guest rows in line with what the platform reports: one path for every platform.

Connectors (automigrate/platforms/) only read their platform; this module
decides what that reading means for the database:

- hosts are matched by ``external_id``, then by name; new ones are created,
  changed ones updated; a host the platform no longer lists, or that did not
  answer this round, is marked offline (never deleted: migrations point at it)
  and comes back online when it answers again; ``maintenance`` is the admin's
  and is never overwritten;
- guests are matched the same way; one that vanished from a host that did
  answer is marked ``gone`` (its history stays); guests of a host that did
  not answer are left where they were;
- a guest with a migration in flight keeps the status the execution service
  gave it: the watcher, not the inventory, decides how that migration ended.

Only transitions write events (a host going offline or coming back, guests
gone or appearing), so a sync every minute does not flood the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from automigrate.bounded import CallTimedOut, call_bounded
from automigrate.models import Event, Guest, Host, Migration
from automigrate.platforms import Platform, PlatformError, PlatformInventory, get_platform
from automigrate.services.events import record_event

HOST_FIELDS = ("name", "cpu_count", "mem_total", "host_type", "cpu_arch", "enabled")


@dataclass
class SyncReport:
    platform: str
    skipped: bool = False  # the platform has no inventory of its own (the simulator)
    error: str = ""  # nothing could be read; the database was left as it was
    # (kind, name, what changed), in the order found: the table `inventory sync` prints.
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, kind: str, name: str, change: str) -> None:
        self.changes.append((kind, name, change))

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.platform}: the database is the inventory, nothing to sync"
        if self.error:
            return f"{self.platform}: {self.error}"
        return f"{self.platform}: {len(self.changes)} change(s)"


def sync_inventory(platform: Platform | None = None) -> SyncReport:
    """Read the platform (bounded) and apply what it says; never raises for the platform's faults."""
    platform = platform or get_platform()
    report = SyncReport(platform=platform.name)
    if not platform.has_inventory:
        report.skipped = True
        return report
    seconds = float(settings.AUTOMIGRATE["INVENTORY_TIMEOUT_SECONDS"])
    try:
        inventory = call_bounded(platform.read_inventory, seconds=seconds, what=f"{platform.name} inventory")
    except (PlatformError, CallTimedOut) as exc:
        if isinstance(exc, CallTimedOut):
            from automigrate.services import outside

            outside.note_timeout("platform", f"{platform.name} inventory", str(exc))
        report.error = f"inventory not read: {exc}"
        _record_read_outcome(platform.name, report.error)
        return report
    with transaction.atomic():
        hosts = _apply_hosts(inventory, report, platform.host_label_prefixes)
        _apply_guests(inventory, hosts, report)
        _record_read_outcome(platform.name, "")
    return report


def _record_read_outcome(platform_name: str, error: str) -> None:
    """One event when reading starts failing (or fails differently), one when it works again.

    A sync runs every minute and before every evaluation: a wrong password must
    be one readable line in the log, not one per attempt.
    """
    last = (
        Event.objects.filter(action=Event.Action.INVENTORY, notes__platform=platform_name, notes__has_key="read")
        .order_by("-time", "-id").values_list("notes", flat=True).first()
    ) or {}
    failing = last.get("error") if last.get("read") == "failed" else None
    if error and error != failing:
        record_event(Event.Action.INVENTORY, f"{platform_name}: {error}",
                     notes={"platform": platform_name, "read": "failed", "error": error})
    elif not error and failing is not None:
        record_event(Event.Action.INVENTORY, f"{platform_name}: inventory read again (it failed: {failing})",
                     notes={"platform": platform_name, "read": "ok"})


def _apply_hosts(inventory: PlatformInventory, report: SyncReport, prefixes: tuple[str, ...] = ()) -> dict[str, Host]:
    """Hosts as the platform has them; returns external_id -> Host for every host it named."""
    existing = list(Host.objects.all())
    by_external = {h.external_id: h for h in existing if h.external_id}
    by_name = {h.name: h for h in existing}
    seen: dict[str, Host] = {}
    for item in inventory.hosts:
        host = by_external.get(item.external_id) or by_name.get(item.name)
        if host is None:
            host = Host.objects.create(
                external_id=item.external_id, labels=sorted(item.labels), **{f: getattr(item, f) for f in HOST_FIELDS}
            )
            report.add("host", host.name, "new")
        else:
            changed = [f for f in HOST_FIELDS if getattr(host, f) != getattr(item, f)]
            if host.external_id != item.external_id:
                changed.append("external_id")
            for f in changed:
                setattr(host, f, getattr(item, f))
            labels = _host_labels(host.labels, item.labels, prefixes)
            if labels != sorted(host.labels or ()):
                host.labels = labels
                changed.append("labels")
            if changed:
                host.save(update_fields=[*changed, "updated_at"])
                report.add("host", host.name, "updated " + ", ".join(changed))
            if host.status == Host.Status.OFFLINE:
                _set_host_status(host, Host.Status.ONLINE, "answers again", report)
        seen[item.external_id] = host
    for external_id, why in inventory.unreachable.items():
        host = by_external.get(external_id) or by_name.get(external_id)
        if host is not None and host.status == Host.Status.ONLINE:
            _set_host_status(host, Host.Status.OFFLINE, f"did not answer: {why}", report)
    named = set(seen) | set(inventory.unreachable)
    for host in existing:
        if host.external_id and host.external_id not in named and host.status == Host.Status.ONLINE:
            _set_host_status(host, Host.Status.OFFLINE, "no longer reported by the platform", report)
    return seen


def _host_labels(current: list | None, reported: tuple[str, ...], prefixes: tuple[str, ...]) -> list[str]:
    """The admin's labels as they are, the platform's (its ``prefixes``) as reported now."""
    own = [label for label in current or () if not (prefixes and label.startswith(prefixes))]
    return sorted({*own, *reported})


def _set_host_status(host: Host, status: str, why: str, report: SyncReport) -> None:
    Host.objects.filter(pk=host.pk).update(status=status)
    host.status = status
    report.add("host", host.name, f"{status}: {why}")
    record_event(
        Event.Action.INVENTORY, f"host {host.name} is {status}: {why}",
        source_host=host, notes={"host": {"id": host.external_id, "name": host.name}, "status": status, "why": why},
    )


def _apply_guests(inventory: PlatformInventory, hosts: dict[str, Host], report: SyncReport) -> None:
    existing = list(Guest.objects.all())
    by_external = {g.external_id: g for g in existing if g.external_id}
    by_name = {g.name: g for g in existing}
    in_flight = set(
        Migration.objects.filter(state__in=Migration.ACTIVE_STATES).values_list("guest_id", flat=True)
    )
    seen: set[int] = set()
    appeared: list[str] = []
    for item in inventory.guests:
        host = hosts.get(item.host_external_id)
        if host is None:
            report.add("guest", item.name, f"skipped: its host {item.host_external_id} is not in the inventory")
            continue
        guest = by_external.get(item.external_id) or by_name.get(item.name)
        if guest is not None and guest.external_id and item.external_id and guest.external_id != item.external_id:
            # Same name, another VM: the old one is gone. Free its name, keep its history.
            _retire_name(guest)
            guest = None
        if guest is None:
            guest = Guest.objects.create(
                name=item.name, external_id=item.external_id, host=host, vcpu_count=item.vcpu_count,
                vmem_size=item.vmem_size, status=item.status, labels=list(item.labels),
            )
            appeared.append(guest.name)
            report.add("guest", guest.name, f"new on {host.name}")
        else:
            _update_guest(guest, item, host, guest.pk in in_flight, report)
        seen.add(guest.pk)
    answered = {h.pk for h in hosts.values()} - {
        h.pk for ext, h in hosts.items() if ext in inventory.unreachable
    }
    gone = [
        g for g in existing
        if g.pk not in seen and g.host_id in answered and g.status != Guest.Status.GONE and g.pk not in in_flight
    ]
    if gone:
        Guest.objects.filter(pk__in=[g.pk for g in gone]).update(status=Guest.Status.GONE)
        for g in gone:
            report.add("guest", g.name, "gone")
        names = sorted(g.name for g in gone)
        record_event(
            Event.Action.INVENTORY, f"{len(names)} guest(s) gone from the platform: {', '.join(names[:10])}"
            + (" …" if len(names) > 10 else ""), notes={"gone": names},
        )
    if appeared:
        record_event(
            Event.Action.INVENTORY, f"{len(appeared)} new guest(s): {', '.join(appeared[:10])}"
            + (" …" if len(appeared) > 10 else ""), notes={"new": appeared},
        )


def _update_guest(guest: Guest, item, host: Host, migrating: bool, report: SyncReport) -> None:
    changes: dict[str, object] = {}
    if guest.host_id != host.pk:
        changes["host"] = host
    for f in ("vcpu_count", "vmem_size"):
        if getattr(guest, f) != getattr(item, f):
            changes[f] = getattr(item, f)
    if item.external_id and guest.external_id != item.external_id:
        changes["external_id"] = item.external_id
    # Platform labels are added; labels an admin set (pinned, group:…) are never removed here.
    labels = sorted(set(guest.labels or ()) | set(item.labels))
    if labels != sorted(guest.labels or ()):
        changes["labels"] = labels
    if not migrating and guest.status != item.status:
        changes["status"] = item.status
    if not changes:
        return
    old_host = guest.host.name if "host" in changes else ""
    for f, v in changes.items():
        setattr(guest, f, v)
    guest.save(update_fields=[*changes, "updated_at"])
    what = ", ".join(f"{old_host} → {host.name}" if f == "host" else f"{f} {v}" for f, v in changes.items())
    report.add("guest", guest.name, what)


def _retire_name(guest: Guest) -> None:
    suffix = f" (gone #{guest.pk})"
    Guest.objects.filter(pk=guest.pk).update(name=guest.name[: 200 - len(suffix)] + suffix, status=Guest.Status.GONE)
