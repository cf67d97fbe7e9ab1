"""From the database and the metric source to the engine's inputs.

A fixed number of queries whatever the cluster size: the rule's three
host/guest lists, host means (one aggregate), hosts, and, only if some host
fires, its guests, their means (one aggregate) and which of them are already
migrating. Rows are read as tuples, not model instances: on a 20,000-guest
cluster building objects would be most of an evaluation's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from automigrate.engine.model import CPU, MEM, GuestState, HostState, RuleSpec, Snapshot, Tuning
from automigrate.engine.scoring import fires, host_value
from automigrate.models import Guest, Host, Migration, MigrationRule
from automigrate.services import metrics
from automigrate.sources import MetricSource, SourceError, WindowMeans, get_source


@dataclass(frozen=True)
class HostRef:
    """What events and execution need to name a host of the snapshot."""

    pk: int
    name: str
    external_id: str
    cpu_count: int
    accepts_guests: bool


@dataclass(frozen=True)
class GuestRef:
    pk: int
    name: str
    host_pk: int
    vcpu_count: int
    vmem_size: int


@dataclass(frozen=True)
class ClusterView:
    """One evaluation's inputs: what the engine sees, plus the ids to act on its answer."""

    now: datetime
    snapshot: Snapshot
    spec: RuleSpec
    tuning: Tuning
    hosts: dict[str, HostRef]
    guests: dict[str, GuestRef]  # only guests of hosts that fire
    means: WindowMeans
    # Why the metric source gave no numbers (one line naming it), or None when it answered.
    source_error: str | None = None
    # Samples the source ignored as out of range, by metric.
    ignored: dict[str, int] = field(default_factory=dict)


def tuning_from_settings() -> Tuning:
    """settings.AUTOMIGRATE's engine knobs as the engine's Tuning."""
    conf = settings.AUTOMIGRATE
    return Tuning(
        cooldown_minutes=float(conf["COOLDOWN_MINUTES"]),
        bounce_back_minutes=float(conf["BOUNCE_BACK_MINUTES"]),
        min_relief_percent=float(conf["MIN_RELIEF_PERCENT"]),
        hysteresis_fraction=float(conf["HYSTERESIS_FRACTION"]),
        mem_floor_fraction=float(conf["MEM_FLOOR_FRACTION"]),
        cpu_ceiling_percent=float(conf["CPU_CEILING_PERCENT"]),
        max_moves_per_host=int(conf["MAX_MOVES_PER_HOST"]),
        max_moves_per_run=int(conf["MAX_MOVES_PER_RUN"]),
    )


def rule_spec(rule: MigrationRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name,
        metric=rule.metric,
        threshold=float(rule.threshold),
        source_hosts=frozenset(rule.source_hosts.values_list("name", flat=True)),
        target_hosts=frozenset(rule.target_hosts.values_list("name", flat=True)),
        source_guests=frozenset(rule.source_guests.values_list("name", flat=True)),
    )


def build_view(rule: MigrationRule, now: datetime | None = None) -> ClusterView:
    """Refresh the inventory, then read hosts, window means, and the guests that could move.

    The engine only looks at the guests of hosts that fire (they are the
    candidates; targets are judged on host values), so only those guests and
    their means are read: on a calm cluster an evaluation reads no guest at
    all, and on a 20,000-guest cluster it skips most of them. Whether a host
    fires is decided with the engine's own functions, so the two cannot disagree.

    A source that cannot answer (SourceError) leaves every host without values, so
    none fires; the view carries the message for the evaluation's event.
    """
    now = now or timezone.now()
    source = get_source()
    source.refresh_inventory()
    spec = rule_spec(rule)
    source_error, ignored = None, {}
    try:
        host_means = metrics.host_means(rule.period_seconds, now, source=source)
    except SourceError as exc:
        host_means, source_error = {}, str(exc)
    _count(ignored, source)

    host_states: list[HostState] = []
    hosts: dict[str, HostRef] = {}
    names_by_pk: dict[int, str] = {}
    firing: list[int] = []
    host_rows = Host.objects.order_by().values_list(
        "pk", "name", "cpu_count", "mem_total", "enabled", "status", "host_type", "cpu_arch", "external_id"
    )
    for pk, name, cpu_count, mem_total, enabled, status, host_type, cpu_arch, external_id in host_rows:
        means = host_means.get(pk, {})
        state = HostState(
            name=name, cpu_count=cpu_count, mem_total=mem_total, cpu=means.get(CPU), mem_available=means.get(MEM),
            enabled=enabled, status=status, host_type=host_type, cpu_arch=cpu_arch, external_id=external_id,
        )
        host_states.append(state)
        # The model's own rule (a second copy of it here could drift), without a Host() per row.
        accepts = Host.would_accept_guests(enabled, status)
        hosts[name] = HostRef(pk, name, external_id, cpu_count, accepts)
        names_by_pk[pk] = name
        if _may_fire(state, spec):
            firing.append(pk)

    try:
        guest_states, guests, guest_means = _guests_of(firing, names_by_pk, hosts, rule.period_seconds, now, source)
    except SourceError as exc:
        guest_states, guests, guest_means, source_error = [], {}, {}, str(exc)
    _count(ignored, source)
    return ClusterView(
        now=now,
        snapshot=Snapshot(hosts=tuple(host_states), guests=tuple(guest_states)),
        spec=spec,
        tuning=tuning_from_settings(),
        hosts=hosts,
        guests=guests,
        means=WindowMeans(hosts=host_means, guests=guest_means),
        source_error=source_error,
        ignored=ignored,
    )


def _count(ignored: dict[str, int], source: MetricSource) -> None:
    """Add the out-of-range samples the source's latest question ignored, and clear them (counted once)."""
    found = getattr(source, "ignored", None) or {}
    for metric, count in found.items():
        ignored[metric] = ignored.get(metric, 0) + count
    if found:
        source.ignored = {}


def _may_fire(host: HostState, spec: RuleSpec) -> bool:
    """The engine's trigger for one host (planner.plan applies the same tests)."""
    if spec.source_hosts and host.name not in spec.source_hosts:
        return False
    value = host_value(host, spec.metric)
    return value is not None and host.cpu_count > 0 and fires(value, spec.metric, spec.threshold)


def _guests_of(
    host_pks: list[int], names_by_pk: dict[int, str], hosts: dict[str, HostRef], period_seconds: int, now: datetime,
    source: MetricSource,
) -> tuple[list[GuestState], dict[str, GuestRef], dict[int, float]]:
    if not host_pks:
        return [], {}, {}
    present = Guest.objects.filter(host_id__in=host_pks).exclude(status=Guest.Status.GONE)
    guest_rows = list(present.order_by().values_list(
        "pk", "name", "host_id", "vcpu_count", "vmem_size", "status", "labels",
        "last_migrated_from_id", "last_migrated_at", "external_id",
    ))
    ids = [row[0] for row in guest_rows]
    means = metrics.guest_means(period_seconds, now, ids, source=source)
    # A guest with a migration in flight is never planned again, whatever its status says.
    in_flight = set(
        Migration.objects.filter(state__in=Migration.ACTIVE_STATES, guest_id__in=ids).values_list("guest_id", flat=True)
    )
    states: list[GuestState] = []
    refs: dict[str, GuestRef] = {}
    for pk, name, host_pk, vcpus, vmem, status, labels, left_pk, migrated_at, external_id in guest_rows:
        host_name = names_by_pk[host_pk]
        minutes = None if migrated_at is None else (now - migrated_at).total_seconds() / 60.0
        states.append(GuestState(
            name=name, host=host_name, vcpu_count=vcpus, vmem_size=vmem, cpu=means.get(pk),
            status=Guest.Status.MIGRATING if pk in in_flight else status,
            labels=frozenset(labels or ()),
            last_migrated_from=names_by_pk.get(left_pk) if left_pk else None,
            minutes_since_migration=minutes,
            external_id=external_id,
            host_external_id=hosts[host_name].external_id,
        ))
        refs[name] = GuestRef(pk, name, host_pk, vcpus, vmem)
    return states, refs, means
