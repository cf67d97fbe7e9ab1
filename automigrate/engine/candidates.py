"""Which guests of a firing host may move, and why the others may not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automigrate.engine.lifecycle import in_cooldown
from automigrate.engine.model import CPU, PINNED_LABELS, GuestState, RuleSpec, Skip, Tuning
from automigrate.engine.projection import HostLoad
from automigrate.engine.scoring import cpu_demand, cpu_share, guest_bytes

if TYPE_CHECKING:
    from automigrate.engine.placement import Placement


@dataclass(frozen=True)
class Candidate:
    """A guest that may move, with what moving it gives and costs."""

    guest: GuestState
    relief: float  # what leaving lowers the source by, in the rule metric's unit
    demand: float  # vCPU-percent; its share on any host is demand / cpu_count
    num_bytes: int  # memory the migration copies and the target must hold
    # An affinity unit: the guests that must move together, each a candidate;
    # the unit's numbers are their sums. Empty for a single guest.
    parts: tuple[Candidate, ...] = ()

    @property
    def name(self) -> str:
        return "+".join(self.names) if self.parts else self.guest.name

    @property
    def members(self) -> tuple[Candidate, ...]:
        return self.parts or (self,)

    @property
    def names(self) -> list[str]:
        return [part.guest.name for part in self.parts] if self.parts else [self.guest.name]

    @property
    def relief_per_byte(self) -> float:
        return self.relief / self.num_bytes


def exclusion(guest: GuestState, rule: RuleSpec, tuning: Tuning) -> tuple[str, str] | None:
    """(reason, detail) if ``guest`` may not move under ``rule``; None if it may.

    Reasons are stable identifiers (they end up in events and the API).
    """
    if rule.source_guests and guest.name not in rule.source_guests:
        return "not_in_source_guests", "the rule only moves its source guests"
    if guest.status == "migrating":
        return "migrating", "already migrating"
    if guest.status != "running":
        # Live migration needs a running guest; the reference also only moves running ones.
        return "not_running", f"status is {guest.status}"
    if not PINNED_LABELS.isdisjoint(guest.labels):  # the test alone first: most guests have no label
        return "pinned", f"labelled {', '.join(sorted(PINNED_LABELS & guest.labels))}"
    if in_cooldown(guest.minutes_since_migration, tuning.cooldown_minutes):
        return "cooldown", (
            f"migrated {guest.minutes_since_migration:.1f} min ago, cooldown is {tuning.cooldown_minutes:g} min"
        )
    if guest.cpu is None:
        # CPU rules need it for the relief; memory rules for the target's CPU ceiling.
        return "no_guest_metrics", "no fresh cpu.usage_active samples"
    return None


def unit_of(parts: Sequence[Candidate]) -> Candidate:
    """One candidate standing for guests that move together (an affinity unit)."""
    if len(parts) == 1:
        return parts[0]
    ordered = tuple(sorted(parts, key=lambda c: c.guest.name))
    return Candidate(
        guest=ordered[0].guest,
        relief=sum(c.relief for c in ordered),
        demand=sum(c.demand for c in ordered),
        num_bytes=sum(c.num_bytes for c in ordered),
        parts=ordered,
    )


def group_units(
    candidates: Sequence[Candidate], source: str, placement: Placement | None
) -> tuple[list[Candidate], list[Skip]]:
    """Merge candidates that must move together (must-affinity mates on ``source``) into units.

    A unit with a member that may not move does not move at all: each of its
    movable members is skipped, naming the mate that holds it.
    """
    if not placement:
        return list(candidates), []
    by_name = {c.name: c for c in candidates}
    out: list[Candidate] = []
    skips: list[Skip] = []
    done: set[str] = set()
    for cand in candidates:
        if cand.name in done:
            continue
        mates = placement.unit_mates(cand.name, source)
        if not mates:
            out.append(cand)
            continue
        names = [cand.name, *mates]
        done.update(names)
        stuck = [m for m in mates if m not in by_name]
        if stuck:
            for name in names:
                if name in by_name:
                    skips.append(Skip(
                        reason="affinity_unit", guest=name, host=source,
                        detail=f"must move with {', '.join(stuck)} (affinity), which may not move",
                    ))
            continue
        out.append(unit_of([by_name[n] for n in names]))
    return out, skips


def select_candidates(
    guests: Iterable[GuestState], source: HostLoad, rule: RuleSpec, tuning: Tuning
) -> tuple[list[Candidate], list[Skip]]:
    """Split the guests of firing host ``source`` into candidates and skips."""
    candidates: list[Candidate] = []
    skips: list[Skip] = []
    # Read once, not per guest: this loop runs for every guest of every firing host.
    on_cpu, host, cpu_count = rule.metric == CPU, source.name, source.cpu_count
    for guest in guests:
        excluded = exclusion(guest, rule, tuning)
        if excluded is not None:
            reason, detail = excluded
            data = {}
            if reason == "cooldown":
                data = {"minutes_ago": guest.minutes_since_migration, "cooldown_minutes": tuning.cooldown_minutes}
            skips.append(Skip(reason=reason, guest=guest.name, host=host, detail=detail, data=data))
            continue
        demand = cpu_demand(guest)
        num_bytes = guest_bytes(guest)
        relief = cpu_share(demand, cpu_count) if on_cpu else float(num_bytes)
        if relief <= 0 or num_bytes <= 0:
            # Moving it would relieve nothing (the reference skips score 0 too).
            skips.append(
                Skip(
                    reason="zero_score",
                    guest=guest.name,
                    host=host,
                    detail="moving it would not relieve the host",
                )
            )
            continue
        candidates.append(Candidate(guest, relief, demand, num_bytes))
    return candidates, skips
