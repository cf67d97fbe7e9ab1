"""Which guests of a firing host may move, and why the others may not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from automigrate.engine.lifecycle import in_cooldown
from automigrate.engine.model import CPU, PINNED_LABELS, GuestState, RuleSpec, Skip, Tuning
from automigrate.engine.projection import HostLoad
from automigrate.engine.scoring import cpu_demand, cpu_share, guest_bytes


@dataclass(frozen=True)
class Candidate:
    """A guest that may move, with what moving it gives and costs."""

    guest: GuestState
    relief: float  # what leaving lowers the source by, in the rule metric's unit
    demand: float  # vCPU-percent; its share on any host is demand / cpu_count
    num_bytes: int  # memory the migration copies and the target must hold

    @property
    def name(self) -> str:
        return self.guest.name

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
    pinned = sorted(PINNED_LABELS & guest.labels)
    if pinned:
        return "pinned", f"labelled {', '.join(pinned)}"
    if in_cooldown(guest.minutes_since_migration, tuning.cooldown_minutes):
        return "cooldown", (
            f"migrated {guest.minutes_since_migration:.1f} min ago, cooldown is {tuning.cooldown_minutes:g} min"
        )
    if guest.cpu is None:
        # CPU rules need it for the relief; memory rules for the target's CPU ceiling.
        return "no_guest_metrics", "no fresh cpu.usage_active samples"
    return None


def select_candidates(
    guests: Iterable[GuestState], source: HostLoad, rule: RuleSpec, tuning: Tuning
) -> tuple[list[Candidate], list[Skip]]:
    """Split the guests of firing host ``source`` into candidates and skips."""
    candidates: list[Candidate] = []
    skips: list[Skip] = []
    for guest in guests:
        excluded = exclusion(guest, rule, tuning)
        if excluded is not None:
            reason, detail = excluded
            skips.append(Skip(reason=reason, guest=guest.name, host=source.name, detail=detail))
            continue
        demand = cpu_demand(guest)
        num_bytes = guest_bytes(guest)
        relief = cpu_share(demand, source.cpu_count) if rule.metric == CPU else float(num_bytes)
        if relief <= 0 or num_bytes <= 0:
            # Moving it would relieve nothing (the reference skips score 0 too).
            skips.append(
                Skip(
                    reason="zero_score",
                    guest=guest.name,
                    host=source.name,
                    detail="moving it would not relieve the host",
                )
            )
            continue
        candidates.append(Candidate(guest=guest, relief=relief, demand=demand, num_bytes=num_bytes))
    return candidates, skips
