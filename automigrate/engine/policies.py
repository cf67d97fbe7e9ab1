"""The two ways of choosing moves: ``automigrate`` (just enough) and ``classic``."""

from __future__ import annotations

from collections.abc import Sequence

from automigrate.engine.candidates import Candidate, group_units, select_candidates
from automigrate.engine.model import CPU, Failure, Skip
from automigrate.engine.placement import MUST, MUST_AND_SHOULD
from automigrate.engine.projection import HostLoad
from automigrate.engine.run import Run
from automigrate.engine.scoring import goal
from automigrate.engine.targets import Search


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
        _relieve(run, source, candidates)
        if run.still_fires(source):
            run.explain_unrelieved(source, len(candidates), skips, _cap_reached(run, source))


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

    1. Guests that alone cover the remaining need, smallest memory first: one
       move is the fewest possible, and the smallest such guest overshoots
       least and copies least.
    2. Otherwise guests big enough to finish within the moves still allowed
       (relief >= need / slots), best relief per byte copied first.
    3. Then the rest, biggest relief first, to keep the number of moves low.
    """
    enough = need / slots
    covering = sorted((c for c in remaining if c.relief >= need), key=lambda c: (c.num_bytes, c.relief, c.name))
    strong = sorted(
        (c for c in remaining if enough <= c.relief < need), key=lambda c: (-c.relief_per_byte, -c.relief, c.name)
    )
    weak = sorted((c for c in remaining if c.relief < enough), key=lambda c: (-c.relief, c.name))
    return covering + strong + weak


def _why(run: Run, cand: Candidate, need: float, target_level: float) -> str:
    goal_text = f"goal {run.fmt(target_level)} = threshold with {run.tuning.hysteresis_fraction:.0%} margin"
    if cand.relief >= need:
        choice = f"the smallest guest that alone reaches the {goal_text}"
    else:
        choice = f"the best relief per byte among guests that can still reach the {goal_text}"
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
