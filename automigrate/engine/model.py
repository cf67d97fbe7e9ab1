"""Plain data the engine reads and returns. No Django import, ever.

Units follow the reference system: CPU values are percentages (0-100) of
the host's (or, for a guest, its own vCPUs') capacity; memory available is
in bytes; a guest's ``vmem_size`` is in MB (MiB, as the reference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from automigrate.engine.forecast import Forecast

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
    # CPU expected over the next window (engine/forecast.py); None = no forecast, judged on the mean alone.
    forecast: Forecast | None = None


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
    # CPU expected over the next window, % of its own vCPUs; None = no forecast.
    forecast: Forecast | None = None


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
    # Forecasts (hosts with one only): a firing host is left alone when its forecast plus
    # forecast_z spreads is under the threshold; a target counts as loaded at the larger of
    # its mean and its forecast plus forecast_target_z spreads. Chosen by trace replays.
    forecast_z: float = 1.0
    forecast_target_z: float = 1.0
    # Also fire on a host whose mean is under the threshold but whose forecast is over.
    forecast_fires: bool = False
    # What a source host is relieved from: its mean, or the larger of its mean and its forecast.
    forecast_source: str = "mean"
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


# What a target would break by taking a guest (Rejection.limit).
LIMITS = ("threshold", "mem_floor", "cpu_ceiling", "bounce_back", "placement", "moves_per_host", "same_host")
# Units of a Rejection's numbers: CPU percent of the target, bytes, minutes, number of guests.
UNITS = ("%", "bytes", "min", "guests", "")


# Not frozen, unlike the other records: a plan builds one per refused target (up to
# targets.MAX_PROBES per guest), and a frozen dataclass's __init__ (object.__setattr__ per
# field) cost 4x a plain one here (23 vs 6 us), more than the note text it replaces.
@dataclass(slots=True)
class Rejection:
    """Why one target cannot take one guest: the limit and the numbers, not a sentence.

    ``current`` is the target's value on the limit's measure now, ``score``
    what the guest adds (CPU) or takes (memory) there, ``limit_value`` the
    limit it would cross; all in ``unit``. The text of a note is rendered
    from these by ``explain.rejection_text``.
    """

    target: str
    limit: str  # one of LIMITS
    reason: str  # short code, stable in events and the API (see explain.REASONS)
    guest: str = ""  # the guest (or "a+b" unit) refused; for bounce_back the member that left the target
    current: float | None = None  # bounce_back: minutes since it left (None: unknown)
    score: float | None = None
    limit_value: float | None = None
    unit: str = ""  # one of UNITS
    group: str = ""  # placement: the group that forbids it
    strength: str = ""  # placement: the group's strength (must | should)
    detail: str = ""  # placement: what the group's rule says of this move ("db-2 already on h3"); no numbers


_REJECTION_TEXT = ("target", "limit", "reason", "guest", "unit", "group", "strength", "detail")
_REJECTION_KEYS = frozenset({"target", "limit", "reason"})  # always stored, even if empty
_REJECTION_NUMBERS = ("current", "score", "limit_value")


def rejection_from_dict(data: object) -> Rejection | None:
    """A Rejection back from its JSON (event notes, the API); None if ``data`` is not one.

    Unknown keys are ignored and wrong types dropped, so a record written by a
    later (or earlier) version still reads.
    """
    if not isinstance(data, dict) or not isinstance(data.get("target"), str) or not isinstance(data.get("limit"), str):
        return None
    text = {k: data[k] for k in _REJECTION_TEXT if isinstance(data.get(k), str)}
    numbers = {k: float(data[k]) for k in _REJECTION_NUMBERS
               if isinstance(data.get(k), int | float) and not isinstance(data.get(k), bool)}
    return Rejection(**{"reason": "", **text, **numbers})


def failure_from_dict(data: object) -> Failure | None:
    """A Failure back from the records of event notes; None unless they hold ``rejections`` (a list)."""
    if not isinstance(data, dict) or not isinstance(data.get("rejections"), list):
        return None
    rejections = tuple(r for r in map(rejection_from_dict, data["rejections"]) if r is not None)

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    guest, notes, reason, scope = data.get("guest"), data.get("notes"), data.get("reason"), data.get("scope")
    return Failure(
        host=str(data.get("host") or ""),
        guest=guest if isinstance(guest, str) else None,
        notes=notes if isinstance(notes, str) else "",
        rejections=rejections,
        not_listed=count("not_listed"),
        not_tried=count("not_tried"),
        reason=reason if isinstance(reason, str) else "",
        scope={k: v for k, v in scope.items() if isinstance(v, str)} if isinstance(scope, dict) else {},
    )


@dataclass(frozen=True)
class Failure:
    host: str
    guest: str | None
    notes: str  # the reference's format: "not found target for guest G: [...]"
    # The structured reasons the note was rendered from (empty for host-level failures):
    # the targets refused, most preferred first, at most explain.MAX_NOTE_TARGETS of them.
    rejections: tuple[Rejection, ...] = ()
    not_listed: int = 0  # more targets refused the guest but are not in ``rejections``
    not_tried: int = 0  # targets never examined because the search gave up (targets.MAX_PROBES)
    # "no_target" (targets refused it), "no_eligible_target" (no target in its scope at all), "" otherwise.
    reason: str = ""
    scope: dict = field(default_factory=dict)  # no_eligible_target: the host_type, cpu_arch and zone searched

    def records(self) -> dict:
        """The structured part, JSON-ready: what events store beside ``notes``.

        As in ``Plan.to_dict`` but each rejection without its empty fields (a
        threshold record has no group, a placement one no numbers): events are
        kept for a year, and ``rejection_from_dict`` reads the defaults back.
        """
        return _rounded({
            "reason": self.reason,
            "rejections": [{k: v for k, v in asdict(r).items() if v not in ("", None) or k in _REJECTION_KEYS}
                           for r in self.rejections],
            "not_listed": self.not_listed,
            "not_tried": self.not_tried,
            "scope": self.scope,
        })


@dataclass(frozen=True)
class Skip:
    reason: str
    guest: str | None = None
    host: str | None = None
    detail: str = ""
    # The numbers behind ``detail``, where there are some (low_relief: relief, floor;
    # cooldown: minutes_ago, cooldown_minutes).
    data: dict = field(default_factory=dict)


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
            # A host without a value (no fresh samples, e.g. in an evacuation plan) is not judged.
            if self.hosts_after.get(t["host"]) is not None
            and fires(self.hosts_after[t["host"]], self.metric, self.threshold)
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
