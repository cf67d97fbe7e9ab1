"""The read side of the dashboard: what each page needs, in a fixed number of queries.

Every function here issues a bounded number of SQL queries whatever the
cluster size (no query per host, guest or rule), so pages stay fast at
thousands of hosts. Values are joined in Python from a few flat queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from automigrate.engine import lifecycle
from automigrate.engine.model import CPU, MEM
from automigrate.models import Event, Guest, Host, Migration, MigrationRule
from automigrate.services import series, status

LATEST_EVENTS = 12
MAX_IN_FLIGHT_SHOWN = 50


# --- Rules watching hosts -------------------------------------------------


@dataclass
class Watchers:
    """Which enabled rules watch which hosts.

    A rule without source hosts watches every host (the reference's meaning
    of an empty list), so it is kept apart instead of expanded per host.
    """

    rules: list[MigrationRule]
    everywhere: list[MigrationRule]
    by_host: dict[int, list[MigrationRule]]

    def for_host(self, host_id: int) -> list[MigrationRule]:
        return self.everywhere + self.by_host.get(host_id, [])


def watchers() -> Watchers:
    """Enabled rules and the hosts they watch: two queries."""
    rules = list(MigrationRule.objects.filter(enabled=True).order_by("name"))
    by_pk = {rule.pk: rule for rule in rules}
    links = MigrationRule.source_hosts.through.objects.filter(migrationrule_id__in=by_pk)
    by_host: dict[int, list[MigrationRule]] = {}
    linked: set[int] = set()
    for rule_id, host_id in links.values_list("migrationrule_id", "host_id"):
        by_host.setdefault(host_id, []).append(by_pk[rule_id])
        linked.add(rule_id)
    everywhere = [rule for rule in rules if rule.pk not in linked]
    return Watchers(rules=rules, everywhere=everywhere, by_host=by_host)


def strictest(rules: list[MigrationRule], metric: str) -> float | None:
    """The threshold a host crosses first: the lowest CPU one, the highest memory one."""
    values = [rule.threshold for rule in rules if rule.metric == metric]
    if not values:
        return None
    return min(values) if metric == CPU else max(values)


# --- Hosts ----------------------------------------------------------------


@dataclass
class HostRow:
    id: int
    name: str
    cpu_count: int
    mem_total: int
    status: str
    enabled: bool
    guest_count: int
    cpu: float | None
    mem: float | None
    cpu_threshold: float | None
    mem_threshold: float | None
    rule_names: list[str] = field(default_factory=list)

    @property
    def cpu_hot(self) -> bool:
        return self.cpu is not None and self.cpu_threshold is not None and self.cpu > self.cpu_threshold

    @property
    def mem_hot(self) -> bool:
        return self.mem is not None and self.mem_threshold is not None and self.mem < self.mem_threshold

    @property
    def hot(self) -> bool:
        return self.cpu_hot or self.mem_hot

    @property
    def mem_available_percent(self) -> float | None:
        if self.mem is None or not self.mem_total:
            return None
        return 100.0 * self.mem / self.mem_total

    @property
    def no_data(self) -> bool:
        return self.cpu is None and self.mem is None


def host_rows(now: datetime | None = None) -> tuple[list[HostRow], Watchers]:
    """Every host with its current values and the thresholds watching it: four queries."""
    hosts = Host.objects.annotate(guest_count=Count("guests")).values(
        "id", "name", "cpu_count", "mem_total", "status", "enabled", "guest_count"
    )
    means = series.host_window_means(now=now)
    watching = watchers()
    rows = []
    for host in hosts:
        rules = watching.for_host(host["id"])
        current = means.get(host["id"], {})
        rows.append(
            HostRow(
                **host,
                cpu=current.get(CPU),
                mem=current.get(MEM),
                cpu_threshold=strictest(rules, CPU),
                mem_threshold=strictest(rules, MEM),
                rule_names=[rule.name for rule in rules],
            )
        )
    return rows, watching


SORT_KEYS = {
    # Missing values sort last in both directions: a host without data is not "coolest".
    "name": lambda row: row.name,
    "cpu": lambda row: row.cpu if row.cpu is not None else float("-inf"),
    "mem": lambda row: row.mem if row.mem is not None else float("inf"),
    "guests": lambda row: row.guest_count,
    "status": lambda row: row.status,
    "hot": lambda row: (row.hot, row.cpu if row.cpu is not None else float("-inf")),
}
DEFAULT_SORT = "-hot"


def sort_rows(rows: list[HostRow], sort: str) -> tuple[list[HostRow], str]:
    """Sort host rows by ``name``, ``cpu``…; a leading ``-`` means descending. Unknown keys fall back."""
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        sort, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    return sorted(rows, key=SORT_KEYS[key], reverse=sort.startswith("-")), sort


def search_rows(rows: list[HostRow], text: str) -> list[HostRow]:
    text = text.strip().lower()
    if not text:
        return rows
    return [row for row in rows if text in row.name.lower()]


@dataclass
class GuestRow:
    guest: Guest
    cpu: float | None  # % of the guest's own vCPUs
    score: float | None  # its share of this host's CPU %

    @property
    def memory_gib(self) -> float:
        return self.guest.vmem_size / 1024


def guest_rows(host: Host) -> list[GuestRow]:
    """A host's guests with their CPU score on it (usage × vCPUs / host cores), busiest first: two queries."""
    guests = list(host.guests.all())
    means = series.guest_window_means([guest.pk for guest in guests])
    rows = []
    for guest in guests:
        cpu = means.get(guest.pk)
        score = cpu * guest.vcpu_count / host.cpu_count if cpu is not None and host.cpu_count else None
        rows.append(GuestRow(guest=guest, cpu=cpu, score=score))
    rows.sort(key=lambda row: (row.score is None, -(row.score or 0), row.guest.name))
    return rows


def rules_watching(host: Host) -> list[MigrationRule]:
    """Enabled rules that watch ``host``: those listing it, and those listing no source host."""
    return watchers().for_host(host.pk)


def host_migrations(host: Host, start: datetime, end: datetime, limit: int = 500) -> list[Migration]:
    """Migrations that took a guest off or onto ``host`` in the range, for chart markers."""
    return list(
        Migration.objects.filter(Q(source=host) | Q(target=host))
        .filter(Q(finished_at__range=(start, end)) | Q(started_at__range=(start, end)))
        .select_related("guest", "source", "target")
        .order_by("-requested_at")[:limit]
    )


# --- Migrations, events, the lock -----------------------------------------


def in_flight_migrations() -> list[Migration]:
    return list(
        Migration.objects.filter(state__in=Migration.ACTIVE_STATES)
        .select_related("guest", "source", "target", "rule")
        .order_by("requested_at")[:MAX_IN_FLIGHT_SHOWN]
    )


def estimated_progress(migration: Migration, now: datetime | None = None) -> float | None:
    """Fraction done, 0–1, if the driver does not report one.

    Live migration time is dominated by copying memory, so elapsed time over
    the expected copy time is an honest estimate; it stops at 99 % because
    only the driver knows when the switch-over happened.
    """
    reported = getattr(migration, "progress", None)
    if reported is not None:
        return max(0.0, min(1.0, float(reported)))
    if migration.started_at is None:
        return 0.0
    now = now or timezone.now()
    expected = lifecycle.migration_seconds(
        migration.guest.vmem_size, settings.AUTOMIGRATE["SIM_BANDWIDTH_MB_PER_S"]
    )
    return min(0.99, max(0.0, (now - migration.started_at).total_seconds() / expected))


def latest_events(limit: int = LATEST_EVENTS, *conditions: Q, **filters) -> list[Event]:
    return list(
        Event.objects.filter(*conditions, **filters).select_related("guest", "source_host", "target_host")[:limit]
    )


def lock_info(now: datetime | None = None) -> dict:
    """Who holds the global migration lock (see automigrate.services.status.lock_status)."""
    return status.lock_status(now)


# --- Rule state -------------------------------------------------------------


def rule_states(rules: list[MigrationRule]) -> dict[int, str]:
    """idle, firing, migrating, waiting_for_lock, settling or disabled, per rule pk: one query."""
    return status.rule_states(rules)


def pending_recommendations(rule: MigrationRule, limit: int = 50) -> list[Event]:
    """`recommend` events of ``rule`` that no `approve` event points at yet, newest first.

    The same test approve_recommendation applies before executing one.
    """
    approved = Event.objects.filter(
        rule_ref=rule.pk, action=Event.Action.APPROVE, notes__has_key="recommendation"
    ).values_list("notes__recommendation", flat=True)
    return list(
        Event.objects.filter(rule_ref=rule.pk, action=Event.Action.RECOMMEND)
        .exclude(pk__in=[pk for pk in approved if pk is not None])
        .select_related("guest", "source_host", "target_host")[:limit]
    )
