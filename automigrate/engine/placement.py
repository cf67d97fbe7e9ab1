"""Placement groups: who may share a host with whom, and which hosts a guest may use.

Four kinds, each ``must`` (never broken by a plan) or ``should`` (kept unless
keeping it leaves a firing host unrelieved or a host in maintenance full):

* anti-affinity: no two members on one host;
* affinity: every member on one host, so members that share a host move
  together, as one unit, or not at all;
* host-affinity: members only on the group's hosts;
* host-anti-affinity: members never on the group's hosts.

``Placement`` follows where every grouped guest is while a plan is built and
answers one question for the target search: may these guests go to that
host? The answer is a note naming the group ("anti-affinity group db: db-2
already on h3"), or None. With no groups it is never consulted, so plans
without groups cost nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from automigrate.engine.explain import placement_text
from automigrate.engine.model import (
    GROUP_KINDS,
    GROUP_LABEL_PREFIX,
    HOST_GROUP_KINDS,
    STRENGTHS,
    GuestState,
    PlacementGroup,
)

MUST = frozenset({"must"})
SHOULD = frozenset({"should"})
MUST_AND_SHOULD = frozenset({"must", "should"})


class GroupError(ValueError):
    """Groups that cannot be used; the message is one line naming the field."""


@dataclass(frozen=True)
class Violation:
    """A group the placement breaks now, with the guests and hosts involved."""

    group: str
    kind: str
    strength: str
    guests: tuple[str, ...]
    hosts: tuple[str, ...]
    text: str

    def to_dict(self) -> dict:
        return {
            "group": self.group, "kind": self.kind, "strength": self.strength,
            "guests": list(self.guests), "hosts": list(self.hosts), "text": self.text,
        }


def label_groups(labels: Iterable[str]) -> set[str]:
    """Group names a guest's labels put it in (``group:db`` → ``db``)."""
    return {label[len(GROUP_LABEL_PREFIX):] for label in labels if label.startswith(GROUP_LABEL_PREFIX)}


def resolve_members(groups: Sequence[PlacementGroup], guests: Iterable[GuestState]) -> dict[str, frozenset[str]]:
    """Each group's members: the guests it lists plus those labelled ``group:NAME``."""
    members: dict[str, set[str]] = {g.name: set(g.guests) for g in groups}
    for guest in guests:
        if guest.labels:
            for name in label_groups(guest.labels):
                if name in members:
                    members[name].add(guest.name)
    return {name: frozenset(names) for name, names in members.items()}


def validate_groups(groups: Sequence[PlacementGroup], members: dict[str, frozenset[str]] | None = None) -> None:
    """Raise GroupError for an unknown kind or strength, a missing host list, or contradictory ``must`` groups.

    Contradictions are what no placement can satisfy: a guest that must be on
    h1 and must not be, two guests that must share a host and must not, or an
    affinity unit whose members' allowed hosts have nothing in common.
    """
    members = members or {g.name: g.guests for g in groups}
    for i, group in enumerate(groups):
        where = f"groups[{i}]"
        if group.kind not in GROUP_KINDS:
            raise GroupError(f"{where}.kind: must be one of {', '.join(GROUP_KINDS)} (got {group.kind!r})")
        if group.strength not in STRENGTHS:
            raise GroupError(f"{where}.strength: must be one of {', '.join(STRENGTHS)} (got {group.strength!r})")
        if group.kind in HOST_GROUP_KINDS and not group.hosts:
            raise GroupError(f"{where}.hosts: a {group.kind} group needs at least one host")
        if group.kind not in HOST_GROUP_KINDS and group.hosts:
            raise GroupError(f"{where}.hosts: only host-affinity and host-anti-affinity groups list hosts")
    musts = [g for g in groups if g.strength == "must"]
    _check_pairs(musts, members)
    _check_hosts(musts, members)


def _check_pairs(musts: Sequence[PlacementGroup], members: dict[str, frozenset[str]]) -> None:
    units = _affinity_units(musts, members)
    for group in musts:
        if group.kind != "anti-affinity":
            continue
        seen: dict[int, str] = {}
        for guest in sorted(members.get(group.name, ())):
            unit = units.get(guest)
            if unit is None:
                continue
            if unit[0] in seen:
                raise GroupError(
                    f"groups.{group.name}: contradicts affinity group {unit[1]}: {seen[unit[0]]} and {guest}"
                    " must share a host and must not"
                )
            seen[unit[0]] = guest


def _affinity_units(musts: Sequence[PlacementGroup], members: dict[str, frozenset[str]]) -> dict[str, tuple[int, str]]:
    """Guest → (unit id, an affinity group naming it): guests that must end on one host."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    via: dict[str, str] = {}
    for group in musts:
        if group.kind != "affinity":
            continue
        names = sorted(members.get(group.name, ()))
        for name in names:
            via.setdefault(name, group.name)
            parent[find(name)] = find(names[0])
    roots: dict[str, int] = {}
    return {name: (roots.setdefault(find(name), len(roots)), via[name]) for name in via}


def _check_hosts(musts: Sequence[PlacementGroup], members: dict[str, frozenset[str]]) -> None:
    """No guest (nor affinity unit) may be left with no host it is allowed on."""
    only: dict[str, list[PlacementGroup]] = {}
    never: dict[str, list[PlacementGroup]] = {}
    for group in musts:
        bucket = {"host-affinity": only, "host-anti-affinity": never}.get(group.kind)
        if bucket is not None:
            for guest in members.get(group.name, ()):
                bucket.setdefault(guest, []).append(group)
    units = _affinity_units(musts, members)
    by_unit: dict[int, list[str]] = {}
    for guest, (unit, _) in units.items():
        by_unit.setdefault(unit, []).append(guest)
    seen: set[str] = set()
    for guest in sorted(only):
        if guest in seen:
            continue
        unit_guests = sorted(by_unit[units[guest][0]]) if guest in units else [guest]
        seen.update(unit_guests)
        only_groups = [g for m in unit_guests for g in only.get(m, ())]
        allowed = frozenset.intersection(*(g.hosts for g in only_groups))
        what = guest if len(unit_guests) == 1 else f"the affinity unit {', '.join(unit_guests)}"
        if not allowed:
            raise GroupError(
                f"groups.{only_groups[-1].name}: contradicts host-affinity group {only_groups[0].name}:"
                f" {what} would have no host it may run on"
            )
        never_groups = [g for m in unit_guests for g in never.get(m, ())]
        banned = set().union(*(g.hosts for g in never_groups))
        if not allowed - banned:
            raise GroupError(
                f"groups.{never_groups[0].name}: contradicts host-affinity group {only_groups[0].name}:"
                f" {what} must be on {', '.join(sorted(allowed))} and must not be"
            )


class Placement:
    """Where each grouped guest is, as the plan moves them; the groups' verdict on a target."""

    def __init__(self, groups: Sequence[PlacementGroup], guests: Iterable[GuestState]) -> None:
        guests = list(guests)
        self.groups = list(groups)
        self.members = resolve_members(self.groups, guests)
        grouped = {name for names in self.members.values() for name in names}
        self.where: dict[str, str] = {g.name: g.host for g in guests if g.name in grouped}
        self.groups_of: dict[str, list[PlacementGroup]] = {}
        for group in self.groups:
            for name in self.members[group.name]:
                if name in self.where:  # a member the snapshot does not know cannot be placed
                    self.groups_of.setdefault(name, []).append(group)
        # Guest → guests that must move with it (must-affinity), known members only.
        self._unit_of: dict[str, frozenset[str]] = {}
        musts = [g for g in self.groups if g.strength == "must"]
        by_unit: dict[int, set[str]] = {}
        for name, (unit, _) in _affinity_units(musts, self.members).items():
            if name in self.where:
                by_unit.setdefault(unit, set()).add(name)
        for names in by_unit.values():
            frozen = frozenset(names)
            for name in names:
                self._unit_of[name] = frozen

    def __bool__(self) -> bool:
        return bool(self.groups_of)

    def has_groups(self, guest: str) -> bool:
        return guest in self.groups_of

    def unit_mates(self, guest: str, host: str) -> list[str]:
        """The other guests that must move with ``guest``: its must-affinity mates on the same ``host``."""
        mates = self._unit_of.get(guest)
        if not mates:
            return []
        return sorted(m for m in mates if m != guest and self.where.get(m) == host)

    def refusal(self, guests: Sequence[str], target: str, strengths: frozenset[str] = MUST_AND_SHOULD) -> str | None:
        """Why the groups forbid moving ``guests`` (together) to ``target``; None if they allow it."""
        refused = self.refused_by(guests, target, strengths)
        if refused is None:
            return None
        group, why = refused
        return placement_text(group.kind, group.name, group.strength, why)

    def refused_by(
        self, guests: Sequence[str], target: str, strengths: frozenset[str] = MUST_AND_SHOULD
    ) -> tuple[PlacementGroup, str] | None:
        """The first group forbidding the move, and why (``refusal`` in words); None if all allow it."""
        moving = set(guests)
        for guest in guests:
            for group in self.groups_of.get(guest, ()):
                if group.strength not in strengths:
                    continue
                why = self._refuses(group, guest, moving, target)
                if why:
                    return group, why
        return None

    def _refuses(self, group: PlacementGroup, guest: str, moving: set[str], target: str) -> str | None:
        kind = group.kind
        if kind == "host-affinity":
            return None if target in group.hosts else f"{guest} only on {', '.join(sorted(group.hosts))}"
        if kind == "host-anti-affinity":
            return f"{guest} never on {target}" if target in group.hosts else None
        others = sorted(m for m in self.members[group.name] if m not in moving and m in self.where)
        if kind == "anti-affinity":
            for other in others:
                if self.where[other] == target:
                    return f"{other} already on {target}"
            return None
        # affinity: every member not moving along must already be on the target.
        for other in others:
            if self.where[other] != target:
                return f"{other} stays on {self.where[other]}"
        return None

    def move(self, guests: Iterable[str], target: str) -> None:
        for guest in guests:
            if guest in self.where:
                self.where[guest] = target

    def violations(self, hosts_of: dict[str, str] | None = None) -> list[Violation]:
        """Every group the current placement breaks (``hosts_of`` overrides where guests are)."""
        where = self.where if hosts_of is None else {**self.where, **hosts_of}
        found: list[Violation] = []
        for group in self.groups:
            names = sorted(m for m in self.members[group.name] if m in where)
            found.extend(_group_violations(group, names, where))
        return found


def _group_violations(group: PlacementGroup, names: list[str], where: dict[str, str]) -> list[Violation]:
    def violation(guests: list[str], hosts: list[str], text: str) -> Violation:
        return Violation(group.name, group.kind, group.strength, tuple(guests), tuple(hosts),
                         f"{group.kind} group {group.name} ({group.strength}): {text}")

    if group.kind == "host-affinity":
        wrong = [n for n in names if where[n] not in group.hosts]
        return [violation([n], [where[n]], f"{n} on {where[n]}, allowed only on {', '.join(sorted(group.hosts))}")
                for n in wrong]
    if group.kind == "host-anti-affinity":
        wrong = [n for n in names if where[n] in group.hosts]
        return [violation([n], [where[n]], f"{n} on {where[n]}, which it must avoid") for n in wrong]
    by_host: dict[str, list[str]] = {}
    for n in names:
        by_host.setdefault(where[n], []).append(n)
    if group.kind == "anti-affinity":
        return [violation(together, [host], f"{', '.join(together)} share {host}")
                for host, together in sorted(by_host.items()) if len(together) > 1]
    if len(by_host) > 1:
        spread = "; ".join(f"{', '.join(ns)} on {h}" for h, ns in sorted(by_host.items()))
        return [violation(names, sorted(by_host), f"members split: {spread}")]
    return []


def must_violations(groups: Sequence[PlacementGroup], guests: Iterable[GuestState]) -> list[Violation]:
    """The ``must`` violations of a placement (tests and the dashboard use this)."""
    return [v for v in Placement(groups, guests).violations() if v.strength == "must"]
