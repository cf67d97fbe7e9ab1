"""From the database and the metric source to the engine's inputs.

A fixed number of queries whatever the cluster size: the rule's three
host/guest lists, host means (one aggregate), hosts, and, only if some host
fires, its guests, their means (one aggregate) and which of them are already
migrating. Rows are read as tuples, not model instances: on a 20,000-guest
cluster building objects would be most of an evaluation's time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from automigrate.engine.model import CPU, MEM, GuestState, HostState, RuleSpec, Snapshot, Tuning
from automigrate.engine.scoring import fires, forecast_fires, forecast_holds, host_value
from automigrate.models import Guest, Host, Migration, MigrationRule
from automigrate.platforms.base import ZONE_LABEL
from automigrate.services import forecasts, metrics, placement
from automigrate.sources import MetricSource, SourceError, WindowMeans, get_source

log = logging.getLogger(__name__)


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
    hosts: Mapping[str, HostRef]
    guests: dict[str, GuestRef]  # only guests of hosts that fire
    means: WindowMeans
    # Why the metric source gave no numbers (one line naming it), or None when it answered.
    source_error: str | None = None
    # Samples the source ignored as out of range, by metric.
    ignored: dict[str, int] = field(default_factory=dict)
    # Why hosts have no forecast this round (forecasting on but the history query failed), or None.
    forecast_error: str | None = None


def tuning_from_settings() -> Tuning:
    """settings.AUTOMIGRATE's engine knobs as the engine's Tuning."""
    conf = settings.AUTOMIGRATE
    return Tuning(
        forecast_z=float(conf.get("FORECAST_Z", Tuning.forecast_z)),
        forecast_target_z=float(conf.get("FORECAST_TARGET_Z", Tuning.forecast_target_z)),
        cooldown_minutes=float(conf["COOLDOWN_MINUTES"]),
        bounce_back_minutes=float(conf["BOUNCE_BACK_MINUTES"]),
        min_relief_percent=float(conf["MIN_RELIEF_PERCENT"]),
        hysteresis_fraction=float(conf["HYSTERESIS_FRACTION"]),
        target_margin_percent=float(conf["TARGET_MARGIN_PERCENT"]),
        partial_relief_fraction=float(conf["PARTIAL_RELIEF_FRACTION"]),
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
    Members of placement groups are read too, wherever they run: a target is
    judged by which group members are already on it.

    A source that cannot answer (SourceError) leaves every host without values, so
    none fires; the view carries the message for the evaluation's event.
    """
    spec = rule_spec(rule)
    tuning = tuning_from_settings()
    return _view(spec, rule.period_seconds, now, lambda state: _may_fire(state, spec, tuning),
                 forecasting=bool(settings.AUTOMIGRATE.get("FORECAST", False)))


def build_host_view(name: str, guest_hosts: set[str], now: datetime | None = None) -> ClusterView:
    """The cluster for a plan that is not a rule's (evacuation, repair): guests of ``guest_hosts`` and of groups.

    Means are taken over AUTOMIGRATE["PLACEMENT_WINDOW_SECONDS"]; the spec is a
    placeholder (CPU at the target ceiling) naming the plan.
    """
    tuning = tuning_from_settings()
    spec = RuleSpec(name=name, metric=CPU, threshold=tuning.cpu_ceiling_percent)
    period = int(settings.AUTOMIGRATE["PLACEMENT_WINDOW_SECONDS"])
    return _view(spec, period, now, lambda state: state.name in guest_hosts, always_groups=True)


def _view(
    spec: RuleSpec, period_seconds: int, now: datetime | None, wants_guests, *, always_groups: bool = False,
    forecasting: bool = False,
) -> ClusterView:
    now = now or timezone.now()
    source = get_source()
    try:
        source.refresh_inventory()
    except SourceError as exc:  # a platform source's inventory: the database's stays as it was
        log.warning("%s", exc)
    source_error, ignored = None, {}
    try:
        host_means = metrics.host_means(period_seconds, now, source=source)
    except SourceError as exc:
        host_means, source_error = {}, str(exc)
    _count(ignored, source)
    casts, forecast_error = {}, None
    if forecasting and spec.metric == CPU and host_means:
        casts, forecast_error = forecasts.host_forecasts(source, host_means, period_seconds, now)

    host_states: list[HostState] = []
    hosts = _HostRefs()
    names_by_pk: dict[int, str] = {}
    firing: list[int] = []
    zones = _zones_apply(spec)
    no_means: dict[str, float] = {}
    for pk, name, cpu_count, mem_total, enabled, status, host_type, cpu_arch, external_id, labels in _host_rows(zones):
        means = host_means.get(pk, no_means)
        state = HostState(
            name=name, cpu_count=cpu_count, mem_total=mem_total, cpu=means.get(CPU), mem_available=means.get(MEM),
            enabled=enabled, status=status, host_type=host_type, cpu_arch=cpu_arch, external_id=external_id,
            zone=_zone_of(labels) if zones and labels and ZONE_LABEL in labels else "",
            forecast=casts.get(pk),
        )
        host_states.append(state)
        hosts.rows[name] = (pk, external_id, cpu_count, enabled, status)
        names_by_pk[pk] = name
        if wants_guests(state):
            firing.append(pk)

    # Groups only matter when something may move: a calm evaluation reads none of them.
    groups = placement.group_specs() if firing or always_groups else ()
    grouped = placement.grouped_guest_pks() if groups else []
    try:
        guest_states, guests, guest_means = _guests_of(
            firing, names_by_pk, hosts, period_seconds, now, source, grouped
        )
    except SourceError as exc:
        guest_states, guests, guest_means, source_error = [], {}, {}, str(exc)
    _count(ignored, source)
    return ClusterView(
        now=now,
        snapshot=Snapshot(hosts=tuple(host_states), guests=tuple(guest_states), groups=groups),
        spec=spec,
        tuning=tuning_from_settings(),
        hosts=hosts,
        guests=guests,
        means=WindowMeans(hosts=host_means, guests=guest_means),
        source_error=source_error,
        ignored=ignored,
        forecast_error=forecast_error,
    )


def _zones_apply(spec: RuleSpec) -> bool:
    """Whether a host's guests stay within its ``zone:`` label (a platform's availability zone).

    A rule that names its target hosts has said where guests may go, so it is not held to zones;
    AUTOMIGRATE_SAME_ZONE=0 lifts the boundary for every rule.
    """
    return not spec.target_hosts and bool(settings.AUTOMIGRATE["SAME_ZONE"])


def _host_rows(zones: bool):
    """Every host as a tuple; labels as their JSON text, and only when zones apply.

    Decoding every host's labels (a JSONField converter per row) was a fifth of the
    Python time of a 5,000-host snapshot, for a label most hosts do not have: the
    text is decoded only when it holds ZONE_LABEL.
    """
    labels = Cast("labels", output_field=TextField()) if zones else Value("", output_field=TextField())
    return Host.objects.order_by().annotate(labels_text=labels).values_list(
        "pk", "name", "cpu_count", "mem_total", "enabled", "status", "host_type", "cpu_arch", "external_id",
        "labels_text",
    )


def _zone_of(labels_text: str) -> str:
    """The first ``zone:`` label of a host's labels (JSON text), without the prefix."""
    labels = json.loads(labels_text)
    return next((label[len(ZONE_LABEL):] for label in labels or () if label.startswith(ZONE_LABEL)), "")


class _HostRefs(Mapping[str, HostRef]):
    """name -> HostRef of every host, each built when asked for.

    Events and execution look up a few hosts (sources, targets, stale ones);
    building a HostRef for each of 5,000 hosts up front cost more than all of them use.
    """

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str, int, bool, str]] = {}

    def __getitem__(self, name: str) -> HostRef:
        pk, external_id, cpu_count, enabled, status = self.rows[name]
        # The model's own rule (a second copy of it here could drift), without a Host() per row.
        return HostRef(pk, name, external_id, cpu_count, Host.would_accept_guests(enabled, status))

    def external_id(self, name: str) -> str:
        return self.rows[name][1]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _count(ignored: dict[str, int], source: MetricSource) -> None:
    """Add the out-of-range samples the source's latest question ignored, and clear them (counted once)."""
    found = getattr(source, "ignored", None) or {}
    for metric, count in found.items():
        ignored[metric] = ignored.get(metric, 0) + count
    if found:
        source.ignored = {}


def _may_fire(host: HostState, spec: RuleSpec, tuning: Tuning) -> bool:
    """The engine's trigger for one host (planner.plan applies the same tests, forecasts included)."""
    if spec.source_hosts and host.name not in spec.source_hosts:
        return False
    value = host_value(host, spec.metric)
    if value is None or host.cpu_count <= 0:
        return False
    if fires(value, spec.metric, spec.threshold):
        # A host its forecast holds back is not a source: its guests need not be read.
        return forecast_holds(host, spec.metric, spec.threshold, tuning.forecast_z) is None
    return tuning.forecast_fires and forecast_fires(host, spec.metric, spec.threshold)


def _guests_of(
    host_pks: list[int], names_by_pk: dict[int, str], hosts: _HostRefs, period_seconds: int, now: datetime,
    source: MetricSource, grouped_pks: Sequence[int] = (),
) -> tuple[list[GuestState], dict[str, GuestRef], dict[int, float]]:
    if not host_pks and not grouped_pks:
        return [], {}, {}
    wanted = Q(host_id__in=host_pks) | Q(pk__in=grouped_pks) if grouped_pks else Q(host_id__in=host_pks)
    present = Guest.objects.filter(wanted).exclude(status=Guest.Status.GONE)
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
            host_external_id=hosts.external_id(host_name),
        ))
        refs[name] = GuestRef(pk, name, host_pk, vcpus, vmem)
    return states, refs, means
