"""Two published heuristics, coded from the papers' descriptions, to compare against.

Both run inside the engine's Run like the engine's own policies: the same
eligible targets, both resources' limits on a target (threshold on the rule
metric, memory floor or CPU ceiling on the other), pinning, cooldown,
no-bounce-back and the placement groups (a ``should`` group is broken only
when keeping it leaves the host firing). What differs is only which guests
they pick and where they send them. Like the reference (``classic``) they
had no caps on moves per host or per run, so the automigrate caps are off.

* **MMT**, Minimum Migration Time (Beloglazov & Buyya, "Optimal online
  deterministic algorithms and adaptive heuristics for energy and performance
  efficient dynamic consolidation of virtual machines in cloud data centers",
  CCPE 24(13), 2012, section 6.2): on each overloaded host, repeatedly select
  the guest whose migration takes least (migration time = memory / bandwidth,
  so the smallest memory) until the host would no longer be overloaded; then
  place all selected guests, highest CPU first (the paper's PABFD sorts them
  by CPU utilisation, decreasing).

  Targets: *least loaded that fits* (most spare on the rule metric), not the
  paper's power-aware best fit. PABFD picks the host whose power grows least;
  with the replay's identical hosts and no power model every host grows the
  same, so PABFD degenerates to the first host found, and its real purpose,
  packing so that idle hosts can be switched off, is not something this
  engine does. Least loaded is the strongest form of MMT on overload (a
  best fit would fill targets to the brim and make them fire), which keeps
  the comparison honest: we compare against MMT at its best.

* **Sandpiper** (Wood, Shenoy, Venkataramani, Yousif, "Black-box and
  Gray-box Strategies for Virtual Machine Migration", NSDI 2007, section 5):
  ``volume = 1 / ((1 - cpu) (1 - net) (1 - mem))`` from normalised
  utilisations; hot hosts are taken in decreasing volume; from each, the guest
  with the highest volume-to-size ratio (size = memory footprint) moves to
  the least loaded host, the one with the lowest volume, that can take it;
  repeat until the host is no longer overloaded. The replay and the engine
  have no network figures, so ``net = 0`` (its factor is 1). A guest's
  utilisations are its shares of its host (CPU demand over the host's
  cores, memory over the host's memory). Sandpiper's second phase (swapping
  guests between hosts when no target has room) is not implemented: the
  engine plans moves, not swaps.
"""

from __future__ import annotations

from collections.abc import Sequence

from automigrate.engine.candidates import Candidate, group_units, select_candidates
from automigrate.engine.model import CPU, Failure
from automigrate.engine.placement import MUST
from automigrate.engine.policies import Policy
from automigrate.engine.projection import HostLoad
from automigrate.engine.run import Run
from automigrate.engine.scoring import cpu_share, fires
from automigrate.engine.targets import Search

# A saturated resource (utilisation 1) would make the volume infinite; cap the
# utilisation just under 1 so such hosts are simply the hottest.
_MAX_UTILISATION = 1 - 1e-6


def volume(cpu_fraction: float, mem_fraction: float, net_fraction: float = 0.0) -> float:
    """Sandpiper's volume: ``1 / ((1 - cpu)(1 - net)(1 - mem))``, utilisations in 0..1."""
    product = 1.0
    for used in (cpu_fraction, net_fraction, mem_fraction):
        product *= 1 - min(max(used, 0.0), _MAX_UTILISATION)
    return 1 / product


def host_volume(load: HostLoad) -> float:
    """A host's volume from its projected CPU percent and the memory its guests use."""
    total = load.state.mem_total
    mem_used = 1 - (load.mem or 0.0) / total if total > 0 else 0.0
    return volume((load.cpu or 0.0) / 100, mem_used)


def guest_volume(cand: Candidate, host: HostLoad) -> float:
    """A guest's volume from its shares of ``host``'s CPU and memory."""
    total = host.state.mem_total
    return volume(cpu_share(cand.demand, host.cpu_count) / 100, cand.num_bytes / total if total > 0 else 0.0)


def volume_to_size(cand: Candidate, host: HostLoad) -> float:
    """Sandpiper's VSR: volume per byte of memory, the cost of moving it."""
    return guest_volume(cand, host) / cand.num_bytes


class MMT(Policy):
    name = "mmt"
    description = "MMT (Beloglazov & Buyya 2012): smallest-memory guests off each overloaded host until it is under"

    def plan(self, run: Run, snapshot_order: Sequence[HostLoad]) -> None:
        run.caps_apply = False
        selected: list[tuple[HostLoad, Candidate]] = []
        counts: dict[str, int] = {}
        for source in run.firing:
            candidates = _candidates(run, source)
            counts[source.name] = len(candidates)
            selected += [(source, cand) for cand in mmt_selection(run, source, candidates)]
        why = "MMT: the smallest guest (shortest migration) until the host is no longer overloaded; least loaded target"
        # PABFD: the selected guests of all hosts, highest CPU first.
        for source, cand in sorted(selected, key=lambda sc: (-sc[1].demand, sc[1].name)):
            _place(run, source, cand, why)
        _explain(run, counts)


def mmt_selection(run: Run, source: HostLoad, candidates: Sequence[Candidate]) -> list[Candidate]:
    """MMT's choice on one host: smallest memory first, until the host would not be overloaded."""
    value = source.value(run.metric)
    assert value is not None  # a firing host has a value
    chosen: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: (c.num_bytes, c.name)):
        if not fires(value, run.metric, run.threshold):
            break
        chosen.append(cand)
        value += -cand.relief if run.metric == CPU else cand.relief
    return chosen


class Sandpiper(Policy):
    name = "sandpiper"
    description = "Sandpiper (Wood et al. 2007): highest volume/size guest of the hottest host to the lowest-volume one"

    def plan(self, run: Run, snapshot_order: Sequence[HostLoad]) -> None:
        run.caps_apply = False
        counts: dict[str, int] = {}
        why = "Sandpiper: the highest volume-to-size guest of the hottest host; lowest-volume target that fits"
        for source in sorted(run.firing, key=lambda h: (-host_volume(h), h.name)):
            candidates = _candidates(run, source)
            counts[source.name] = len(candidates)
            for cand in sorted(candidates, key=lambda c: (-volume_to_size(c, source), c.name)):
                if not run.still_fires(source):
                    break
                _place(run, source, cand, why, order=_by_volume)
        _explain(run, counts)


def _by_volume(load: HostLoad) -> tuple:
    return (host_volume(load), load.name)


def _candidates(run: Run, source: HostLoad) -> list[Candidate]:
    candidates, skips = select_candidates(run.guests_by_host.get(source.name, ()), source, run.rule, run.tuning)
    candidates, held = group_units(candidates, source.name, run.placement)
    run.skips.extend(skips + held)
    return candidates


def _place(run: Run, source: HostLoad, cand: Candidate, why: str, order=None) -> None:
    """Move ``cand`` to the first target allowed; break a should group only if the host still fires."""
    search: Search = run.find(cand, source, order=order)
    if search.target is not None:
        run.apply(source, cand, search.target, why)
        return
    if run.still_fires(source) and run.has_should(cand):
        retry = run.find(cand, source, MUST, order=order)
        if retry.target is not None:
            needed = f"keeping it would leave {source.name} unrelieved"
            run.apply(source, cand, retry.target, why + run.broken_should(cand, source, retry.target, needed))
            return
        search = retry
    run.failures.append(Failure(host=source.name, guest=cand.name, notes=search.note(cand.name)))


def _explain(run: Run, counts: dict[str, int]) -> None:
    for source in run.firing:
        if run.still_fires(source):
            skipped = [s for s in run.skips if s.host == source.name]
            run.explain_unrelieved(source, counts.get(source.name, 0), skipped)
