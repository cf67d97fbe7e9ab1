"""The read side of the dashboard: what each page needs, in a fixed number of queries.

Every function here issues a bounded number of SQL queries whatever the
cluster size (no query per host, guest or rule), so pages stay fast at
thousands of hosts. Values are joined in Python from a few flat queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from automigrate.engine import lifecycle
from automigrate.engine.model import CPU, MEM
from automigrate.engine.scoring import fires
from automigrate.models import Event, Guest, Host, Migration, MigrationBatch, MigrationRule
from automigrate.services import metrics, series

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


def host_fires(value: float | None, metric: str, threshold: float | None, cpu_count: int) -> bool:
    """The engine's trigger for one host against one threshold, as services.snapshot applies it.

    No value or no threshold never fires, and the engine skips hosts without a positive core count.
    """
    return value is not None and threshold is not None and cpu_count > 0 and fires(value, metric, threshold)


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
    # Whether a watching rule fires on its own window's mean, as the evaluator judges it;
    # None: not judged (no rule of that metric), then the shown value decides.
    cpu_fires: bool | None = None
    mem_fires: bool | None = None
    # A batch of a rule watching it finished less than that rule's window ago: its mean
    # still holds pre-migration samples.
    settling: bool = False

    @property
    def cpu_hot(self) -> bool:
        if self.cpu_fires is not None:
            return self.cpu_fires
        return host_fires(self.cpu, CPU, self.cpu_threshold, self.cpu_count)

    @property
    def mem_hot(self) -> bool:
        if self.mem_fires is not None:
            return self.mem_fires
        return host_fires(self.mem, MEM, self.mem_threshold, self.cpu_count)

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
    """Every host with its current values and the thresholds watching it.

    Shown values are the short "now" window; hot is each watching rule's own judgement on
    its own window (a host stays red a whole minute after its VM left otherwise, while the
    rule already sees it calm). Four queries, one more per distinct rule period, and one
    when a rule is settling.
    """
    hosts = Host.objects.annotate(guest_count=Count("guests")).values(
        "id", "name", "cpu_count", "mem_total", "status", "enabled", "guest_count"
    )
    now = now or timezone.now()
    means = metrics.host_means(series.current_window_seconds(), now)
    watching = watchers()
    windows = {period: metrics.host_means(period, now) for period in {rule.period_seconds for rule in watching.rules}}
    settling = settling_hosts(watching.rules, now)
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
                cpu_fires=_fires_on_own_window(rules, CPU, windows, host),
                mem_fires=_fires_on_own_window(rules, MEM, windows, host),
                settling=host["name"] in settling,
            )
        )
    return rows, watching


def _fires_on_own_window(rules: list[MigrationRule], metric: str, windows: dict, host: dict) -> bool | None:
    judged = [rule for rule in rules if rule.metric == metric]
    if not judged:
        return None
    return any(
        host_fires(windows[rule.period_seconds].get(host["id"], {}).get(metric), metric, rule.threshold,
                   host["cpu_count"])
        for rule in judged
    )


def settling_hosts(rules: list[MigrationRule], now: datetime) -> set[str]:
    """Names of the hosts relieved by a batch of a rule still settling (one query, none if no rule settles)."""
    settling = {
        rule.pk: rule.last_batch_finished_at for rule in rules
        if rule.last_batch_finished_at
        and lifecycle.is_settling(rule.last_batch_finished_at.timestamp(), now.timestamp(), rule.period_seconds)
    }
    if not settling:
        return set()
    names: set[str] = set()
    batches = MigrationBatch.objects.filter(rule_id__in=list(settling), finished_at__gte=min(settling.values()))
    for rule_id, finished, hosts in batches.values_list("rule_id", "finished_at", "hosts"):
        if finished is not None and finished >= settling[rule_id] - timedelta(seconds=1):
            names.update(str(name) for name in (hosts or []))
    return names


SORT_KEYS = {
    "name": lambda row: row.name,
    "cpu": lambda row: row.cpu,
    "mem": lambda row: row.mem,
    "guests": lambda row: row.guest_count,
    "status": lambda row: row.status,
    # Hot hosts first, then the busiest; a host without CPU data is no hotter than an idle one.
    "hot": lambda row: (row.hot, row.cpu if row.cpu is not None else float("-inf")),
}
DEFAULT_SORT = "-hot"


def sort_rows(rows: list[HostRow], sort: str) -> tuple[list[HostRow], str]:
    """Sort host rows by ``name``, ``cpu``…; a leading ``-`` means descending. Unknown keys fall back.

    Missing values sort last in both directions: a host without data is neither the
    coolest nor the hottest. Ties (and the missing) keep name order.
    """
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        sort, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    value = SORT_KEYS[key]
    by_name = sorted(rows, key=lambda row: row.name)
    present = [row for row in by_name if value(row) is not None]
    missing = [row for row in by_name if value(row) is None]
    return sorted(present, key=value, reverse=sort.startswith("-")) + missing, sort


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


def guest_rows(host: Host, now: datetime | None = None) -> list[GuestRow]:
    """A host's guests with their CPU score on it (usage × vCPUs / host cores), busiest first: two queries."""
    guests = list(host.guests.all())
    means = metrics.guest_means(series.current_window_seconds(), now or timezone.now(), [guest.pk for guest in guests])
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


def in_flight_migrations(limit: int = MAX_IN_FLIGHT_SHOWN) -> list[Migration]:
    """The oldest ``limit`` pending or migrating migrations, for the table (see in_flight_count)."""
    return list(
        Migration.objects.filter(state__in=Migration.ACTIVE_STATES)
        .select_related("guest", "source", "target", "rule")
        .order_by("requested_at")[:limit]
    )


def in_flight_count() -> int:
    """How many migrations are pending or migrating: a COUNT, not capped like the table."""
    return Migration.objects.filter(state__in=Migration.ACTIVE_STATES).count()


def estimated_progress(migration: Migration, now: datetime | None = None) -> float | None:
    """Fraction done, 0–1: what the driver last reported (libvirt's job stats), else an estimate.

    Live migration time is dominated by copying memory, so elapsed time over
    the expected copy time is an honest estimate; it stops at 99 % because
    only the driver knows when the switch-over happened.
    """
    if migration.started_at is None:
        return 0.0
    if migration.progress is not None:
        return min(1.0, max(0.0, migration.progress))
    now = now or timezone.now()
    expected = lifecycle.migration_seconds(
        migration.guest.vmem_size, settings.AUTOMIGRATE["SIM_BANDWIDTH_MB_PER_S"]
    )
    return min(0.99, max(0.0, (now - migration.started_at).total_seconds() / expected))


def latest_events(limit: int = LATEST_EVENTS, *conditions: Q, **filters) -> list[Event]:
    return list(
        Event.objects.filter(*conditions, **filters)
        .select_related("rule", "guest", "source_host", "target_host")[:limit]
    )


# --- Recommendations ---------------------------------------------------------

# A rule's events after a recommendation that make it stale: the rule looked again and
# found nothing to do, could not place a guest, or moved guests itself.
SUPERSEDING_ACTIONS = (
    Event.Action.NOT_TRIGGERED,
    Event.Action.FIND_RESULT_FAIL,
    Event.Action.MIGRATING,
    Event.Action.APPROVE,
)


def pending_recommendations(rule: MigrationRule) -> list[Event]:
    """The rule's current recommendation, if it still stands: zero or one event (see pending_by_rule)."""
    pending = pending_by_rule([rule]).get(rule.pk)
    return [pending] if pending else []


def pending_by_rule(rules: list[MigrationRule]) -> dict[int, Event]:
    """rule pk -> its standing recommendation, for every rule that has one. Two queries for any number of rules.

    Only a rule's latest ``recommend`` event counts, complete or partial, and only while
    nothing superseded it: no later event of the rule that re-decided (SUPERSEDING_ACTIONS;
    a later approve means it or an older one was executed; the find_result_fail events of a
    partial plan's own evaluation are written before it, so they do not count), and no batch
    of the rule finished after it. Older recommendations are history, not buttons.
    """
    by_pk = {rule.pk: rule for rule in rules}
    if not by_pk:
        return {}
    latest = (
        Event.objects.filter(rule_ref=OuterRef("pk"), action=Event.Action.RECOMMEND)
        .order_by("-time", "-id").values("id")[:1]
    )
    ids = [
        event_id for event_id in MigrationRule.objects.filter(pk__in=list(by_pk))
        .annotate(recommendation=Subquery(latest)).values_list("recommendation", flat=True)
        if event_id is not None
    ]
    later = Event.objects.filter(rule_ref=OuterRef("rule_ref"), action__in=SUPERSEDING_ACTIONS).filter(
        Q(time__gt=OuterRef("time")) | Q(time=OuterRef("time"), id__gt=OuterRef("id"))
    )
    events = (
        Event.objects.filter(id__in=ids).annotate(superseded=Exists(later))
        .select_related("guest", "source_host", "target_host")
    )
    pending = {}
    for event in events:
        finished = by_pk[event.rule_ref].last_batch_finished_at
        if event.superseded or (finished is not None and finished >= event.time):
            continue
        pending[event.rule_ref] = event
    return pending
