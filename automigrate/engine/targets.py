"""Which hosts may receive a guest, and the index that finds one in O(log hosts).

Eligible targets are kept per migration group (host_type, cpu_arch, zone) in a list
sorted by preference. Two orders exist:

* ``headroom`` (policy automigrate): most spare capacity on the rule metric
  first. For CPU the spare is ``(threshold - current) × cpu_count`` in
  vCPU-percent, the same unit as a guest's demand, so "fits on the rule
  metric" is exactly ``spare > demand`` whatever the target's core count. The
  scan can therefore stop at the first target whose spare is too small:
  nothing after it can fit. Sorting by load percent would not allow that on
  mixed-size hosts (a big busy host may fit what a small idle one cannot).
* ``load`` (policy classic): the reference's order, least loaded percent
  (CPU) or most available bytes (memory) first.

Updates after each placement re-insert one host, so placing a guest costs
O(log hosts) plus the targets rejected on the *other* resource before one
fits; in headroom order that scan is capped by MAX_PROBES so the worst case
stays bounded too. Each group is a SortedList, not a plain sorted list: taking
a host out of and back into a 45,000-host list moves the whole list in memory,
which was a quarter of an uncapped 50,000-host plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sortedcontainers import SortedList

from automigrate.engine import explain
from automigrate.engine.candidates import Candidate
from automigrate.engine.lifecycle import is_bounce_back
from automigrate.engine.model import CPU, Failure, HostState, Rejection, RuleSpec, Tuning
from automigrate.engine.projection import HostLoad
from automigrate.engine.scoring import cpu_share

# Targets rejected on something other than the rule metric (memory floor, CPU
# ceiling, bounce-back) before giving up on a guest. Real clusters rarely
# reject more than a handful; the cap keeps a pathological one from turning
# planning into candidates × hosts.
MAX_PROBES = 256

ORDERS = ("headroom", "load")


def host_exclusion(host: HostState, rule: RuleSpec, firing: set[str]) -> tuple[str, ...] | None:
    """(reason, detail) if ``host`` can never be a target in this run; None if it can."""
    if host.name in firing:
        return "firing", "a firing host is never a target"
    if rule.target_hosts and host.name not in rule.target_hosts:
        return "not_in_target_hosts", "the rule only moves guests to its target hosts"
    if not host.enabled:
        return "disabled", "host is disabled"
    if host.status == "maintenance":
        return "maintenance", "host is in maintenance"
    if host.status != "online":
        return "offline", f"host status is {host.status}"
    if host.cpu is None or host.mem_available is None:
        # Both resources are checked on a target; without either we cannot.
        missing = "cpu.usage_active" if host.cpu is None else "mem.available"
        return "stale_metrics", f"no fresh {missing} samples, cannot be a target"
    if host.cpu_count <= 0:
        return "invalid_host", "cpu_count must be positive"
    return None


class FitChecker:
    """Decides whether one target can take one candidate; says why not."""

    def __init__(
        self, metric: str, threshold: float, tuning: Tuning, bounce_back: bool = True, target_margin: float = 0.0
    ) -> None:
        self.metric = metric
        # CPU rules: a target must end ``target_margin`` points under the rule's
        # threshold (Tuning.target_margin_percent), so it is not the next host to
        # fire on noise. Everything judging a target (fit, index spare, notes) reads
        # this limit. Memory rules keep the threshold: available memory only moves
        # when guests do, so a target cannot drift over it on its own.
        self.threshold = threshold - target_margin if metric == CPU else threshold
        self.tuning = tuning
        # Emptying a host for maintenance may send a guest back where it came from.
        self.bounce_back = bounce_back

    def score_on(self, cand: Candidate, target: HostLoad) -> float:
        """What ``cand`` adds to ``target`` on the rule metric (target's own cores)."""
        if self.metric == CPU:
            return cpu_share(cand.demand, target.cpu_count)
        return float(cand.num_bytes)

    def threshold_rejection(self, cand: Candidate, target: HostLoad) -> Rejection:
        return explain.threshold_rejection(
            self.metric,
            target.name,
            cand.name,
            target.value(self.metric) or 0.0,
            self.score_on(cand, target),
            self.threshold,
        )

    def reject(self, cand: Candidate, target: HostLoad) -> Rejection | None:
        """None if the move keeps ``target`` within every limit, else the limit it breaks, with numbers."""
        score = self.score_on(cand, target)
        share = cpu_share(cand.demand, target.cpu_count)
        assert target.cpu is not None and target.mem is not None  # eligible targets have both
        if self.metric == CPU:
            if not target.cpu + score < self.threshold:
                return self.threshold_rejection(cand, target)
            floor = self.tuning.mem_floor_fraction * target.state.mem_total
            if not target.mem - cand.num_bytes > floor:
                return explain.mem_floor_rejection(target.name, cand.name, target.mem, cand.num_bytes, floor)
        else:
            if not target.mem - score > self.threshold:
                return self.threshold_rejection(cand, target)
            ceiling = self.tuning.cpu_ceiling_percent
            if not target.cpu + share < ceiling:
                return explain.cpu_ceiling_rejection(target.name, cand.name, target.cpu, share, ceiling)
        if not self.bounce_back:
            return None
        no_return = max(self.tuning.cooldown_minutes, self.tuning.bounce_back_minutes)
        for part in cand.members:
            if is_bounce_back(part.guest, target.name, no_return):
                return explain.bounce_back_rejection(
                    target.name, part.guest.name, part.guest.minutes_since_migration, no_return
                )
        return None


class Search:
    """Outcome of looking for a target: the host, or the records saying why none."""

    __slots__ = ("entries", "group", "more", "target", "untried")

    def __init__(
        self,
        target: HostLoad | None,
        entries: list[Rejection],
        more: int = 0,
        untried: int = 0,
        group: tuple[str, ...] = ("", "", ""),
    ) -> None:
        self.target = target
        self.group = group
        self.entries = entries  # at most MAX_NOTE_TARGETS rejections, most preferred first
        self.more = more  # targets that also cannot take the guest but are not listed
        self.untried = untried  # targets not examined because MAX_PROBES was reached

    def scope(self) -> dict:
        host_type, cpu_arch, zone = (*self.group, "", "", "")[:3]
        return {"host_type": host_type, "cpu_arch": cpu_arch, "zone": zone}

    def note(self, guest: str) -> str:
        return explain.not_found_note(guest, self.entries, self.more, self.untried, MAX_PROBES, self.scope())

    def failure(self, host: str, guest: str, prefix: str = "") -> Failure:
        """The Failure for ``guest`` no target took: its note (after ``prefix``) and the records it says."""
        return Failure(
            host=host,
            guest=guest,
            notes=prefix + self.note(guest),
            rejections=tuple(self.entries),
            not_listed=self.more,
            not_tried=self.untried,
            reason="no_target" if self.entries else "no_eligible_target",
            scope={} if self.entries else self.scope(),
        )


class TargetIndex:
    """Eligible targets per migration group, sorted by preference."""

    def __init__(self, loads: Iterable[HostLoad], checker: FitChecker, order: str = "headroom") -> None:
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        self.checker = checker
        self.metric = checker.metric
        self.threshold = checker.threshold
        self.order = order
        # Stopping early is only sound when the order is by rule-metric spare:
        # always for headroom; for classic only on memory (most available first).
        self.early_stop = order == "headroom" or self.metric != CPU
        # The classic order is the reference's exhaustive first-fit scan; it only
        # ever serves one firing host, so it keeps the reference's unbounded scan.
        self.max_probes = MAX_PROBES if order == "headroom" else None
        self._hosts: dict[str, HostLoad] = {}
        self._keys: dict[str, tuple[float, str]] = {}
        groups: dict[tuple[str, ...], list[tuple[float, str]]] = {}
        hosts, keys_of, key_of = self._hosts, self._keys, self._key
        for load in loads:
            name = load.name
            hosts[name] = load
            key = keys_of[name] = key_of(load)
            groups.setdefault(load.group, []).append(key)
        self._groups: dict[tuple[str, ...], SortedList] = {group: SortedList(keys) for group, keys in groups.items()}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def group_size(self, group: tuple[str, ...]) -> int:
        return len(self._groups.get(group, ()))

    def spare(self, load: HostLoad) -> float:
        """Room left on the rule metric, in the unit of a guest's need (see module doc)."""
        if self.metric == CPU:
            return (self.threshold - (load.cpu or 0.0)) * load.cpu_count
        return (load.mem or 0.0) - self.threshold

    @staticmethod
    def need(cand: Candidate, metric: str) -> float:
        return cand.demand if metric == CPU else float(cand.num_bytes)

    def _key(self, load: HostLoad) -> tuple[float, str]:
        # Ascending = preferred; the name makes ties deterministic.
        if self.order == "headroom":
            return (-self.spare(load), load.name)
        if self.metric == CPU:
            return (load.cpu or 0.0, load.name)
        return (-(load.mem or 0.0), load.name)

    def remove(self, load: HostLoad) -> None:
        key = self._keys.pop(load.name, None)
        if key is None:
            return
        self._groups[load.group].remove(key)

    def update(self, load: HostLoad) -> None:
        """Re-sort ``load`` after its projection changed."""
        self.remove(load)
        key = self._key(load)
        self._keys[load.name] = key
        group = self._groups.get(load.group)
        if group is None:
            group = self._groups[load.group] = SortedList()
        group.add(key)

    def find(
        self, cand: Candidate, group: tuple[str, ...], refuse: Callable[[HostLoad], Rejection | None] | None = None
    ) -> Search:
        """The most preferred target in ``group`` that can take ``cand``.

        ``refuse(target)``, when given, is asked first and may veto a target
        with a record (placement groups); None for guests without groups.
        """
        keys = self._groups.get(group, ())
        need = self.need(cand, self.metric)
        tolerance = 1e-9 * max(1.0, abs(need))
        entries: list[Rejection] = []
        for i, (_, name) in enumerate(keys):
            load = self._hosts[name]
            if self.early_stop and self.spare(load) < need - tolerance:
                # Sorted by spare: no target from here on fits the rule metric.
                # List a few of them anyway so the note names real numbers.
                room = max(0, explain.MAX_NOTE_TARGETS - len(entries))
                for _, rest in keys[i : i + room]:
                    entries.append(self.checker.threshold_rejection(cand, self._hosts[rest]))
                return Search(None, entries, len(keys) - len(entries), group=group)
            why = refuse(load) if refuse is not None else None
            if why is None:
                why = self.checker.reject(cand, load)
            if why is None:
                return Search(load, entries)
            if len(entries) < explain.MAX_NOTE_TARGETS:
                entries.append(why)
            probes = i + 1  # every target so far was examined and rejected
            if self.max_probes is not None and probes >= self.max_probes and probes < len(keys):
                return Search(None, entries, probes - len(entries), untried=len(keys) - probes, group=group)
        return Search(None, entries, len(keys) - len(entries), group=group)

    def find_by(
        self,
        cand: Candidate,
        group: tuple[str, ...],
        order: Callable[[HostLoad], tuple],
        refuse: Callable[[HostLoad], str | None] | None = None,
    ) -> Search:
        """The first target in ``order`` (a sort key) that can take ``cand``; every target may be tried.

        For policies whose preference is not the rule-metric spare (Sandpiper's
        lowest volume), so the scan cannot stop early: O(hosts log hosts) a call.
        """
        loads = sorted((self._hosts[name] for _, name in self._groups.get(group, [])), key=order)
        entries: list[str] = []
        for load in loads:
            why = refuse(load) if refuse is not None else None
            if why is None:
                why = self.checker.reject(cand, load)
            if why is None:
                return Search(load, entries)
            if len(entries) < explain.MAX_NOTE_TARGETS:
                entries.append(why)
        return Search(None, entries, len(loads) - len(entries), group=group)
