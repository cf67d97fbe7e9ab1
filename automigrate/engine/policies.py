"""The engine's own ways of choosing moves: ``automigrate`` (just enough) and ``classic``.

Each policy is a class with a name and a one-line description; the
registry (engine/registry.py) lists them, and the published baselines
(engine/baselines.py) follow the same shape. A policy only chooses: the
planner builds the Run (eligible targets, the projection, the groups) and
every policy applies its moves through it, so the safety filters are the
same for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from automigrate.engine.candidates import Candidate, group_units, select_candidates
from automigrate.engine.model import CPU, Failure, Skip
from automigrate.engine.placement import MUST, MUST_AND_SHOULD
from automigrate.engine.projection import HostLoad
from automigrate.engine.run import Run
from automigrate.engine.scoring import GIB, goal
from automigrate.engine.targets import Search


class Policy:
    """A way of choosing moves for the firing hosts of one run."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # TargetIndex order the planner builds for it (engine/targets.py).
    target_order: ClassVar[str] = "headroom"
    # Whether Tuning.target_margin_percent applies to its targets.
    target_margin: ClassVar[bool] = False

    def plan(self, run: Run, snapshot_order: Sequence[HostLoad]) -> None:
        """Record moves, failures and skips in ``run``; ``snapshot_order`` is the firing hosts as listed."""
        raise NotImplementedError


class Automigrate(Policy):
    name = "automigrate"
    description = "every firing host, hottest first: the fewest moves that pay for their copy, to a goal under it"
    target_margin = True

    def plan(self, run: Run, snapshot_order: Sequence[HostLoad]) -> None:
        plan_automigrate(run)


class Classic(Policy):
    name = "classic"
    description = "the reference: the first firing host only, every guest that fits moves, least loaded target first"
    target_order = "load"

    def plan(self, run: Run, snapshot_order: Sequence[HostLoad]) -> None:
        plan_classic(run, snapshot_order)


def plan_automigrate(run: Run) -> None:
    """Every firing host, hottest first, gets the fewest, cheapest moves that relieve it."""
    tuning = run.tuning
    for source in run.firing:
        if len(run.moves) >= tuning.max_moves_per_run:
            run.failures.append(
                Failure(
                    host=source.name,
                    guest=None,
                    notes=f"{source.name} not handled: max_moves_per_run ({tuning.max_moves_per_run}) reached",
                )
            )
            continue
        candidates, skips = select_candidates(run.guests_by_host.get(source.name, ()), source, run.rule, tuning)
        candidates, held = group_units(candidates, source.name, run.placement)
        skips += held
        candidates, too_small = _worth_a_copy(run, source, candidates)
        skips += too_small
        run.skips.extend(skips)
        mark, before = run.mark(), source.value(run.metric)
        _relieve(run, source, candidates)
        if run.still_fires(source):
            why = _take_back_partial(run, source, before, mark) or _cap_reached(run, source)
            run.explain_unrelieved(source, len(candidates), skips, why)


def _take_back_partial(run: Run, source: HostLoad, before: float | None, mark: tuple[int, int, int]) -> str:
    """Undo the moves planned off ``source`` if they leave it firing and bring too little; say why.

    A host still over the threshold after its moves counts as overloaded all
    the same: the copies were paid for nothing, unless they brought the host
    a good part of the way (``partial_relief_fraction`` of its need to the
    goal), which the next window can finish. Returns "" when the moves stay.

    CPU rules only (as ``min_relief_percent``): a host over a CPU threshold is
    overloaded however far over, while every GiB a memory rule frees is a GiB
    the host no longer lacks.
    """
    fraction = run.tuning.partial_relief_fraction
    after = source.value(run.metric)
    if run.metric != CPU or fraction <= 0 or len(run.moves) == mark[0] or before is None or after is None:
        return ""
    target_level = goal(run.metric, run.threshold, run.tuning.hysteresis_fraction)
    need = before - target_level
    achieved = before - after
    if achieved >= fraction * need:
        return ""
    taken = run.undo(mark)
    gib = sum(m.num_bytes for m in taken) / GIB
    detail = (
        f"{len(taken)} move{'s' if len(taken) != 1 else ''} ({gib:.1f} GiB to copy) would take {source.name}"
        f" from {run.fmt(before)} only to {run.fmt(after)}, still over the threshold {run.fmt(run.threshold)}:"
        f" {_amount(run, achieved)} of the {_amount(run, need)} needed to reach the goal {run.fmt(target_level)},"
        f" less than {fraction:.0%}"
    )
    for move in taken:
        run.skips.append(Skip(reason="partial_relief", guest=move.guest, host=source.name, detail=detail))
    return f"moves taken back, not worth their copy: {detail}"


def _amount(run: Run, value: float) -> str:
    return f"{value:.2f} points"  # CPU rules only


def _worth_a_copy(run: Run, source: HostLoad, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Skip]]:
    """Drop CPU candidates whose move would relieve the host by less than ``min_relief_percent``.

    Every move copies the guest's whole memory; off a saturated host, moving
    guests that use almost no CPU spends that cost (and the per-host move cap)
    without bringing the host any closer to the threshold.
    """
    floor = run.tuning.min_relief_percent
    if run.metric != CPU or floor <= 0:
        return list(candidates), []
    keep = [c for c in candidates if c.relief >= floor]
    skips = [
        Skip(
            reason="low_relief",
            guest=c.name,
            host=source.name,
            detail=f"moving it would lower {source.name} by {c.relief:.2f} points, less than {floor:g}",
            data={"relief": c.relief, "floor": floor},
        )
        for c in candidates
        if c.relief < floor
    ]
    return keep, skips


def _distance_to_goal(run: Run, source: HostLoad, target_level: float) -> float:
    """How much relief ``source`` still needs, in the rule metric's unit (<= 0: done)."""
    value = source.value(run.metric) or 0.0
    return value - target_level if run.metric == CPU else target_level - value


def _cap_reached(run: Run, source: HostLoad) -> str:
    tuning = run.tuning
    if source.moves >= tuning.max_moves_per_host:
        return f"stopped at max_moves_per_host ({tuning.max_moves_per_host})"
    if len(run.moves) >= tuning.max_moves_per_run:
        return f"stopped at max_moves_per_run ({tuning.max_moves_per_run})"
    return ""


def _relieve(run: Run, source: HostLoad, candidates: Sequence[Candidate]) -> None:
    unplaceable = _relieve_pass(run, source, candidates, MUST_AND_SHOULD)
    if run.still_fires(source) and run.placement is not None:
        # Keeping every should group leaves the host firing: try again with the musts only.
        retry = [cand for cand, _ in unplaceable if run.has_should(cand)]
        if retry:
            again = {cand.name: search for cand, search in _relieve_pass(run, source, retry, MUST)}
            placed = {cand.name for cand in retry} - set(again)
            unplaceable = [(c, again.get(c.name, s)) for c, s in unplaceable if c.name not in placed]
    if run.still_fires(source):
        for cand, search in unplaceable:
            run.failures.append(search.failure(source.name, cand.name))


def _relieve_pass(
    run: Run, source: HostLoad, candidates: Sequence[Candidate], strengths: frozenset[str]
) -> list[tuple[Candidate, Search]]:
    """Place candidates until ``source`` reaches its goal or the caps; returns those no target took."""
    tuning = run.tuning
    target_level = goal(run.metric, run.threshold, tuning.hysteresis_fraction)
    remaining = list(candidates)
    unplaceable: list[tuple[Candidate, Search]] = []
    while remaining:
        need = _distance_to_goal(run, source, target_level)
        slots = min(tuning.max_moves_per_host - source.moves, tuning.max_moves_per_run - len(run.moves))
        if need <= 0 or slots <= 0:
            break
        placed = False
        for cand in preference_order(remaining, need, slots):
            if len(cand.members) > slots:
                continue  # a unit moves whole or not at all
            search = run.find(cand, source, strengths)
            remaining.remove(cand)
            if search.target is None:
                # Targets only fill up during a run: a guest that fits nowhere now never will.
                unplaceable.append((cand, search))
                continue
            why = _why(run, cand, need, target_level)
            if strengths is MUST:
                needed = f"keeping it would leave {source.name} unrelieved"
                why += run.broken_should(cand, source, search.target, needed)
            run.apply(source, cand, search.target, why)
            placed = True
            break
        if not placed:
            break
    return unplaceable


def preference_order(remaining: Sequence[Candidate], need: float, slots: int) -> list[Candidate]:
    """Candidates in the order the next move should try them.

    Every tier ranks by useful relief per byte copied, ``min(relief, need) /
    bytes``: relief past the need buys nothing, and every move copies the
    guest's whole memory.

    1. Guests that alone cover the remaining need: their useful relief is the
       need itself, so this is smallest memory first. One move is the fewest
       possible, and the smallest such guest overshoots least and copies least.
    2. Otherwise guests big enough to finish within the moves still allowed
       (relief >= need / slots), best relief per byte first.
    3. Then the rest, best relief per byte first. (Ranking this tier by relief
       alone once moved an idle 24-vCPU, 256 GiB guest for 5.8 points.)
    """
    enough = need / slots
    covering = sorted((c for c in remaining if c.relief >= need), key=lambda c: (c.num_bytes, c.relief, c.name))
    rest = sorted(
        (c for c in remaining if c.relief < need), key=lambda c: (-c.relief_per_byte, -c.relief, c.name)
    )
    strong = [c for c in rest if c.relief >= enough]
    weak = [c for c in rest if c.relief < enough]
    return covering + strong + weak


def _why(run: Run, cand: Candidate, need: float, target_level: float) -> str:
    goal_text = f"goal {run.fmt(target_level)} = threshold with {run.tuning.hysteresis_fraction:.0%} margin"
    if cand.relief >= need:
        choice = f"the smallest guest that alone reaches the {goal_text}"
    else:
        choice = f"the best relief per byte copied among guests that cannot reach the {goal_text} alone"
    return f"{choice}; target with the most headroom that stays within every limit"


def plan_classic(run: Run, snapshot_order: Sequence[HostLoad]) -> None:
    """The reference's behaviour: first firing host only, every candidate that fits moves.

    Targets are tried least loaded first (memory: most available first) and
    the first that fits wins. The safety filters of the engine still hold
    (eligibility, both resources' limits, cooldown, pinning); the automigrate
    caps do not, as the reference had none.
    """
    run.caps_apply = False
    first = snapshot_order[0]
    for other in snapshot_order[1:]:
        run.failures.append(
            Failure(
                host=other.name,
                guest=None,
                notes=f"{other.name} not handled: the classic policy only handles the first firing host ({first.name})",
            )
        )
    candidates, skips = select_candidates(run.guests_by_host.get(first.name, ()), first, run.rule, run.tuning)
    candidates, held = group_units(candidates, first.name, run.placement)
    skips += held
    run.skips.extend(skips)
    order = "least loaded" if run.metric == CPU else "most available"
    why = f"classic policy moves every guest that fits; first fit from {order}"
    failed: list[tuple[Candidate, Search]] = []
    for cand in candidates:
        search = run.find(cand, first)
        if search.target is None:
            failed.append((cand, search))
            continue
        run.apply(first, cand, search.target, why)
    for cand, search in failed:
        if run.still_fires(first) and run.has_should(cand):
            retry = run.find(cand, first, MUST)
            if retry.target is not None:
                needed = f"keeping it would leave {first.name} unrelieved"
                run.apply(first, cand, retry.target, why + run.broken_should(cand, first, retry.target, needed))
                continue
            search = retry
        run.failures.append(search.failure(first.name, cand.name))
    if run.still_fires(first):
        run.explain_unrelieved(first, len(candidates), skips)
