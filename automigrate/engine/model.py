"""Plain data the engine reads and returns. No Django import, ever.

Units follow the reference system: CPU values are percentages (0-100) of
the host's (or, for a guest, its own vCPUs') capacity; memory available is
in bytes; a guest's ``vmem_size`` is in MB (MiB, as the reference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CPU = "cpu.usage_active"
MEM = "mem.available"
METRICS = (CPU, MEM)
# The CLI's and the API's spelling of metric + operator (the reference's metric_type).
METRIC_TYPES = {f"{CPU}.gt": CPU, f"{MEM}.lt": MEM}

PINNED_LABELS = frozenset({"pinned", "never-migrate"})

# The policies' names live in engine/registry.py (POLICIES), next to their classes.

# Placement groups (see engine/placement.py).
GROUP_KINDS = ("anti-affinity", "affinity", "host-affinity", "host-anti-affinity")
HOST_GROUP_KINDS = frozenset({"host-affinity", "host-anti-affinity"})
STRENGTHS = ("must", "should")
# A guest label "group:NAME" makes the guest a member of group NAME, so a
# platform's tags can feed groups without anyone editing the group.
GROUP_LABEL_PREFIX = "group:"


@dataclass(frozen=True)
class HostState:
    name: str
    cpu_count: int
    mem_total: int
    # Window means over the rule's period; None means no fresh samples.
    cpu: float | None
    mem_available: float | None
    enabled: bool = True
    status: str = "online"  # online | offline | maintenance
    host_type: str = "kvm"
    cpu_arch: str = "x86_64"
    external_id: str = ""
    # Availability zone (OpenStack) or the like: guests stay within it. "" = no boundary.
    zone: str = ""


@dataclass(frozen=True)
class GuestState:
    name: str
    host: str
    vcpu_count: int
    vmem_size: int  # MB
    cpu: float | None  # window mean, % of the guest's own vCPUs; None = no fresh samples
    status: str = "running"
    labels: frozenset[str] = frozenset()
    # The host this guest last left, and how long ago (minutes); None = never migrated.
    last_migrated_from: str | None = None
    minutes_since_migration: float | None = None
    external_id: str = ""
    host_external_id: str = ""


@dataclass(frozen=True)
class RuleSpec:
    name: str
    metric: str  # CPU or MEM
    threshold: float  # CPU: percent; MEM: bytes
    source_hosts: frozenset[str] = frozenset()
    target_hosts: frozenset[str] = frozenset()
    source_guests: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Tuning:
    """Knobs of the automigrate policy; settings.AUTOMIGRATE maps onto these."""

    cooldown_minutes: float = 30.0
    # A guest never goes back to the host it left within this long (nor within
    # the cooldown, if longer). Ping-pong is judged over an hour; a 30-minute
    # cooldown alone let trace replays send guests back after 35-55 minutes.
    bounce_back_minutes: float = 60.0
    # Relieve a firing host to threshold minus 15 % of threshold: with less margin
    # (5 %, 10 %) replays of real traces showed hosts re-firing on noise soon after.
    hysteresis_fraction: float = 0.15
    # CPU moves keep the target's available memory above this fraction of its total.
    mem_floor_fraction: float = 0.10
    # Memory moves keep the target's CPU below this percent.
    cpu_ceiling_percent: float = 80.0
    max_moves_per_host: int = 5
    max_moves_per_run: int = 20
    # automigrate (CPU rules): a guest whose move would lower its host by less
    # than this many points is not worth a memory copy. Trace replays showed
    # batches of 0.0-0.5 % moves off saturated hosts: cost with no relief.
    min_relief_percent: float = 1.0
    # automigrate (CPU rules): a target must end this many points under the
    # threshold, not just under it. Filling targets to 58-59.9 % for a 60 % rule
    # made them the next hosts to fire. Default from the issue-14 replays (BENCHMARKS.md).
    target_margin_percent: float = 0.0
    # automigrate: moves off a host the plan leaves still firing are taken back
    # unless they bring at least this fraction of the relief the host needs (to
    # its goal). Such moves copy memory and leave the overload in place. 0 = keep them.
    partial_relief_fraction: float = 0.5


@dataclass(frozen=True)
class PlacementGroup:
    """Where some guests may (not) run: with each other, or on some hosts only."""

    name: str
    kind: str  # one of GROUP_KINDS
    strength: str  # "must" is never broken; "should" only to relieve a firing host
    guests: frozenset[str] = frozenset()  # explicit members; labels add more
    hosts: frozenset[str] = frozenset()  # host kinds only


@dataclass(frozen=True)
class Snapshot:
    hosts: tuple[HostState, ...]
    guests: tuple[GuestState, ...]
    # With groups, ``guests`` must also hold every member of a group wherever
    # it runs: a target is judged by who is already on it.
    groups: tuple[PlacementGroup, ...] = ()


@dataclass(frozen=True)
class Move:
    guest: str
    source: str
    target: str
    score: float  # on the source, in the rule metric's unit
    target_score: float  # on the target (CPU differs by core count)
    source_before: float
    source_after: float
    target_before: float
    target_after: float
    reason: str
    num_bytes: int = 0  # memory the migration copies (0 in records written before it was kept)


@dataclass(frozen=True)
class Failure:
    host: str
    guest: str | None
    notes: str  # the reference's format: "not found target for guest G: [...]"


@dataclass(frozen=True)
class Skip:
    reason: str
    guest: str | None = None
    host: str | None = None
    detail: str = ""


@dataclass
class Plan:
    rule: str
    policy: str
    metric: str
    threshold: float
    result: str  # migrating | find_result_fail | not_triggered
    triggered: list[dict] = field(default_factory=list)  # {"host", "value", "threshold"}
    moves: list[Move] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    hosts_after: dict[str, float] = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)  # repair: the must violations it set out to end

    def to_dict(self) -> dict:
        """The JSON shape printed by `manage.py plan` and served by the API.

        Numbers are rounded to 6 decimals, as in the reference's notes: the
        plan is read by people, and 51.540000000000006 helps nobody.
        """
        extra = {"violations": self.violations} if self.violations else {}
        return _rounded({
            **extra,
            "rule": self.rule,
            "policy": self.policy,
            "metric": self.metric,
            "threshold": self.threshold,
            "result": self.result,
            "triggered": self.triggered,
            "moves": [asdict(m) for m in self.moves],
            "failures": [asdict(f) for f in self.failures],
            "skipped": [asdict(s) for s in self.skipped],
            "hosts_after": self.hosts_after,
            "efficacy": self.efficacy(),
        })

    def efficacy(self) -> dict:
        """What the plan buys and what it costs, in one block (the same for every policy).

        ``relief`` sums what each move lowers its source by, in the rule metric's
        unit (CPU: points of the source host; memory: bytes freed).
        ``hosts_left_firing`` are triggered hosts the plan leaves over the
        threshold; ``gib_off_hosts_left_firing`` is the copy spent on them.
        """
        from automigrate.engine.scoring import GIB, fires  # scoring imports this module

        left = {
            t["host"] for t in self.triggered
            if t["host"] in self.hosts_after and fires(self.hosts_after[t["host"]], self.metric, self.threshold)
        }
        return {
            "moves": len(self.moves),
            "gib_to_copy": sum(m.num_bytes for m in self.moves) / GIB,
            "relief": sum(m.score for m in self.moves),
            "relief_unit": "points" if self.metric == CPU else "bytes",
            "hosts_firing": len(self.triggered),
            "hosts_left_firing": len(left),
            "gib_off_hosts_left_firing": sum(m.num_bytes for m in self.moves if m.source in left) / GIB,
        }



def _rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
