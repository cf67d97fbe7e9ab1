"""State shared by one planning run: the projection, the target index, the results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from automigrate.engine.candidates import Candidate
from automigrate.engine.explain import fmt_value
from automigrate.engine.model import CPU, Failure, GuestState, Move, Rejection, RuleSpec, Skip, Tuning
from automigrate.engine.placement import MUST_AND_SHOULD, SHOULD, Placement
from automigrate.engine.projection import HostLoad
from automigrate.engine.scoring import GIB, fires
from automigrate.engine.targets import FitChecker, Search, TargetIndex


class Run:
    """One evaluation of one rule: everything policies read and write."""

    def __init__(
        self,
        rule: RuleSpec,
        tuning: Tuning,
        firing: Sequence[HostLoad],
        guests_by_host: dict[str, list[GuestState]],
        index: TargetIndex,
        checker: FitChecker,
        placement: Placement | None = None,
    ) -> None:
        self.rule = rule
        self.metric = rule.metric
        self.threshold = rule.threshold
        self.tuning = tuning
        self.firing = list(firing)  # hottest first
        self.guests_by_host = guests_by_host
        self.index = index
        self.checker = checker
        self.moves: list[Move] = []
        self.failures: list[Failure] = []
        self.skips: list[Skip] = []
        self.caps_apply = True  # the classic policy turns the automigrate caps off
        self.placement = placement if placement else None  # None: no guest of the snapshot is in a group
        # What each applied move changed, newest last, so a policy can take moves back (undo).
        self._undo: list[Callable[[], None]] = []

    # --- placement groups ------------------------------------------------

    def find(
        self,
        cand: Candidate,
        source: HostLoad,
        strengths: frozenset[str] = MUST_AND_SHOULD,
        order: Callable[[HostLoad], tuple] | None = None,
    ) -> Search:
        """The best target for ``cand`` that its groups (and, for a unit, the per-host cap) allow.

        ``order`` (a sort key, smallest first) replaces the index's own order
        for policies that rank targets by something else (Sandpiper's volume).
        """
        refuse = self._refuser(cand, source, strengths)
        if order is not None:
            return self.index.find_by(cand, source.group, order, refuse)
        return self.index.find(cand, source.group, refuse)

    def _refuser(
        self, cand: Candidate, source: HostLoad, strengths: frozenset[str]
    ) -> Callable[[HostLoad], Rejection | None] | None:
        size = len(cand.members)
        grouped = self.placement is not None and any(self.placement.has_groups(n) for n in cand.names)
        if not grouped and size == 1:
            # The common case: nothing to ask, nothing to pay. (A source is never in the
            # index of a rule or an evacuation; repair, which keeps it there, moves grouped guests only.)
            return None
        placement, names, cap = self.placement, cand.names, self.tuning.max_moves_per_host

        def refuse(target: HostLoad) -> Rejection | None:
            if target is source:
                return Rejection(target=target.name, limit="same_host", reason="already_there", guest=cand.name)
            if size > 1 and self.caps_apply and target.moves + size > cap:
                return Rejection(target=target.name, limit="moves_per_host", reason="max_moves_per_host",
                                 guest=cand.name, current=target.moves, score=size, limit_value=cap, unit="guests")
            return placement_rejection(placement, names, cand.name, target.name, strengths) if grouped else None

        return refuse

    def has_should(self, cand: Candidate) -> bool:
        placement = self.placement
        return placement is not None and any(
            g.strength == "should" for n in cand.names for g in placement.groups_of.get(n, ())
        )

    def broken_should(self, cand: Candidate, source: HostLoad, target: HostLoad, why_needed: str) -> str:
        """The text a move adds when it breaks a ``should`` group; records it as a skip too."""
        if self.placement is None:
            return ""
        broken = self.placement.refusal(cand.names, target.name, SHOULD)
        if not broken:
            return ""
        text = f"breaks {broken}, because {why_needed}"
        self.skips.append(Skip(reason="should_broken", guest=cand.name, host=source.name, detail=text))
        return f"; {text}"

    def still_fires(self, host: HostLoad) -> bool:
        value = host.value(self.metric)
        return value is not None and fires(value, self.metric, self.threshold)

    def fmt(self, value: float) -> str:
        return fmt_value(self.metric, value)

    def comparator(self) -> str:
        return ">" if self.metric == CPU else "<"

    def apply(self, source: HostLoad, cand: Candidate, target: HostLoad, why: str, lead: str | None = None) -> Move:
        """Record the move (each guest of a unit), update the projection and the groups' placement.

        ``why`` is the policy's own sentence; the numbers are added here so
        every move reads the same way. ``lead`` replaces the opening "source
        is over the threshold" clause (evacuation and repair have none).
        """
        if cand.parts:
            why = f"{why}; moves with {', '.join(cand.names)} as one affinity unit"
        moves = [self._apply_one(source, part, target, why, lead) for part in cand.members]
        if self.placement is not None:
            placement, names = self.placement, cand.names
            placement.move(names, target.name)
            self._undo.append(lambda: placement.move(names, source.name))
        return moves[-1]

    def mark(self) -> tuple[int, int, int]:
        """A point to come back to with ``undo``: the moves, changes and skips recorded so far."""
        return len(self.moves), len(self._undo), len(self.skips)

    def undo(self, mark: tuple[int, int, int]) -> list[Move]:
        """Take back every move applied since ``mark``; returns them, oldest first.

        Restores the projections (source, targets, their move counts), the
        target index (a target the per-host cap removed comes back), the groups'
        placement, and drops the skips recorded since (a should group broken by
        a move taken back is not broken). Every member of an affinity unit was
        applied after the mark, so a unit is taken back whole.
        """
        moves_at, undo_at, skips_at = mark
        while len(self._undo) > undo_at:
            self._undo.pop()()
        taken = self.moves[moves_at:]
        del self.moves[moves_at:]
        del self.skips[skips_at:]
        return taken

    def _apply_one(self, source: HostLoad, cand: Candidate, target: HostLoad, why: str, lead: str | None) -> Move:
        metric = self.metric
        target_score = self.checker.score_on(cand, target)
        source_before = source.value(metric)
        target_before = target.value(metric)
        assert source_before is not None and target_before is not None
        self._undo.append(self._restorer(source, target))
        source.give(cand.demand, cand.num_bytes)
        target.take(cand.demand, cand.num_bytes)
        source_after = source.value(metric)
        target_after = target.value(metric)
        assert source_after is not None and target_after is not None
        if target.moves >= self.tuning.max_moves_per_host and self.caps_apply:
            self.index.remove(target)
        else:
            self.index.update(target)
        if lead is None:
            lead = (f"{source.name} {metric} {self.fmt(source_before)} {self.comparator()} threshold"
                    f" {self.fmt(self.threshold)}")
        reason = (
            f"{lead}; moving {cand.name} ({cand.num_bytes / GIB:.1f} GiB to copy)"
            f" takes it to {self.fmt(source_after)}; {why}: {target.name} goes"
            f" {self.fmt(target_before)} -> {self.fmt(target_after)}"
        )
        move = Move(
            guest=cand.name,
            source=source.name,
            target=target.name,
            score=cand.relief,
            target_score=target_score,
            source_before=source_before,
            source_after=source_after,
            target_before=target_before,
            target_after=target_after,
            reason=reason,
            num_bytes=cand.num_bytes,
        )
        self.moves.append(move)
        return move

    def _restorer(self, source: HostLoad, target: HostLoad) -> Callable[[], None]:
        """Put ``source`` and ``target`` back as they are now (values, not arithmetic: exact)."""
        saved = [(load, load.cpu, load.mem, load.moves, load.name in self.index) for load in (source, target)]

        def restore() -> None:
            for load, cpu, mem, moves, indexed in saved:
                load.cpu, load.mem, load.moves = cpu, mem, moves
                if indexed:
                    self.index.update(load)  # re-sorts it, or puts it back if the cap removed it

        return restore

    def explain_unrelieved(self, source: HostLoad, candidates: int, skipped: Sequence[Skip], why: str = "") -> None:
        """Add a host-level failure saying why ``source`` still fires, when no guest note does."""
        if not why and any(f.host == source.name for f in self.failures):
            return  # the guests' own notes already say why
        value = source.value(self.metric)
        prefix = f"{source.name} still at {self.fmt(value or 0.0)}: "
        if why:
            text, code = why, "stopped_at_cap"
        elif candidates == 0:
            counts = Counter(s.reason for s in skipped)
            detail = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))
            text = f"no guest may move ({detail})" if detail else "no guest on the host"
            code = "no_movable_guest" if detail else "no_guest"
        else:
            # A plan: nothing has moved yet (in recommend mode nothing may move at all).
            text = f"even with every movable guest ({candidates}) moved as planned it would still fire"
            code = "not_enough_relief"
        self.failures.append(Failure(host=source.name, guest=None, notes=prefix + text, reason=code))


def placement_rejection(
    placement: Placement | None, names: Sequence[str], guest: str, target: str, strengths: frozenset[str]
) -> Rejection | None:
    """The record of a placement group refusing ``names`` on ``target``; None if every group allows it."""
    refused = placement.refused_by(names, target, strengths) if placement is not None else None
    if refused is None:
        return None
    group, why = refused
    return Rejection(target=target, limit="placement", reason=group.kind, guest=guest, group=group.name,
                     strength=group.strength, detail=why)
