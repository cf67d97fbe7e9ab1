"""The scenario file of ``manage.py plan``: a rule and a cluster snapshot as JSON.

Parsing is strict, because the file is a user's what-if question: a typo in a
field name silently falling back to a default would answer another question.
Every problem raises ScenarioError with one line naming the field and what is
allowed, e.g. ``hosts[2].cpu_count: must be a positive integer``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automigrate.engine.model import (
    CPU,
    GROUP_KINDS,
    MEM,
    METRICS,
    STRENGTHS,
    GuestState,
    HostState,
    PlacementGroup,
    RuleSpec,
    Snapshot,
)
from automigrate.engine.placement import GroupError, resolve_members, validate_groups

HOST_STATUSES = ("online", "offline", "maintenance")

_RULE_FIELDS = {"name", "metric", "threshold", "source_hosts", "target_hosts", "source_guests"}
_HOST_FIELDS = {"name", "cpu_count", "mem_total", CPU, MEM, "enabled", "status", "host_type", "cpu_arch", "zone"}
_GUEST_FIELDS = {
    "name",
    "host",
    "vcpu_count",
    "vmem_size",
    CPU,
    "status",
    "labels",
    "last_migrated_from",
    "minutes_since_migration",
}


_GROUP_FIELDS = {"name", "kind", "strength", "guests", "hosts"}


class ScenarioError(ValueError):
    """A scenario file that cannot be planned; the message is one line for the user."""


def load_scenario(path: str | Path) -> tuple[Snapshot, RuleSpec]:
    """Read and parse the scenario file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text") from exc
    return parse_scenario_text(text)


def parse_scenario_text(text: str) -> tuple[Snapshot, RuleSpec]:
    """Parse scenario JSON text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    return parse_scenario(data)


def parse_scenario(data: Any) -> tuple[Snapshot, RuleSpec]:
    """Turn decoded scenario JSON into the engine's (Snapshot, RuleSpec)."""
    obj = _object(data, "scenario", {"rule", "hosts", "guests", "groups"}, required={"rule", "hosts"})
    rule = _rule(obj["rule"])
    host_items = _list(obj["hosts"], "hosts")
    hosts = tuple(_host(item, f"hosts[{i}]") for i, item in enumerate(host_items))
    _unique([h.name for h in hosts], "hosts", "host")
    host_names = {h.name for h in hosts}
    guest_items = _list(obj.get("guests", []), "guests")
    guests = tuple(_guest(item, f"guests[{i}]", host_names) for i, item in enumerate(guest_items))
    _unique([g.name for g in guests], "guests", "guest")
    groups = parse_groups(obj.get("groups", []), host_names, {g.name for g in guests})
    try:
        validate_groups(groups, resolve_members(groups, guests))
    except GroupError as exc:
        raise ScenarioError(str(exc)) from exc
    return Snapshot(hosts=hosts, guests=guests, groups=groups), rule


def parse_groups(data: Any, host_names: set[str], guest_names: set[str]) -> tuple[PlacementGroup, ...]:
    """The ``groups`` list (also read by trace replays); every name must be a known guest or host."""
    items = _list(data, "groups")
    groups = []
    for i, item in enumerate(items):
        where = f"groups[{i}]"
        obj = _object(item, where, _GROUP_FIELDS, required={"name", "kind", "strength", "guests"})
        kind, strength = obj["kind"], obj["strength"]
        if kind not in GROUP_KINDS:
            raise ScenarioError(f"{where}.kind: must be one of {', '.join(GROUP_KINDS)} (got {kind!r})")
        if strength not in STRENGTHS:
            raise ScenarioError(f"{where}.strength: must be one of {', '.join(STRENGTHS)} (got {strength!r})")
        guests = _names(obj["guests"], f"{where}.guests")
        unknown = sorted(guests - guest_names)
        if unknown:
            raise ScenarioError(f"{where}.guests: unknown guest {unknown[0]!r} (not in the guests list)")
        hosts = _names(obj.get("hosts", []), f"{where}.hosts")
        unknown = sorted(hosts - host_names)
        if unknown:
            raise ScenarioError(f"{where}.hosts: unknown host {unknown[0]!r} (not in the hosts list)")
        groups.append(PlacementGroup(name=_text(obj["name"], f"{where}.name"), kind=kind, strength=strength,
                                     guests=guests, hosts=hosts))
    _unique([g.name for g in groups], "groups", "group")
    try:
        validate_groups(groups)
    except GroupError as exc:
        raise ScenarioError(str(exc)) from exc
    return tuple(groups)


def _rule(data: Any) -> RuleSpec:
    obj = _object(data, "rule", _RULE_FIELDS, required={"name", "metric", "threshold"})
    metric = obj["metric"]
    if metric not in METRICS:
        raise ScenarioError(f"rule.metric: must be one of {', '.join(METRICS)}")
    threshold = _number(obj["threshold"], "rule.threshold")
    if metric == CPU and not 0 < threshold < 100:
        raise ScenarioError("rule.threshold: must be a percent between 0 and 100 (exclusive) for cpu.usage_active")
    if metric == MEM and threshold <= 0:
        raise ScenarioError("rule.threshold: must be a positive number of bytes for mem.available")
    return RuleSpec(
        name=_text(obj["name"], "rule.name"),
        metric=metric,
        threshold=threshold,
        source_hosts=_names(obj.get("source_hosts", []), "rule.source_hosts"),
        target_hosts=_names(obj.get("target_hosts", []), "rule.target_hosts"),
        source_guests=_names(obj.get("source_guests", []), "rule.source_guests"),
    )


def _host(data: Any, where: str) -> HostState:
    obj = _object(data, where, _HOST_FIELDS, required={"name", "cpu_count", "mem_total"})
    status = obj.get("status", "online")
    if status not in HOST_STATUSES:
        raise ScenarioError(f"{where}.status: must be one of {', '.join(HOST_STATUSES)}")
    mem_total = _positive_int(obj["mem_total"], f"{where}.mem_total")
    return HostState(
        name=_text(obj["name"], f"{where}.name"),
        cpu_count=_positive_int(obj["cpu_count"], f"{where}.cpu_count"),
        mem_total=mem_total,
        # Missing or null means "no fresh samples": the host is neither source nor target.
        cpu=_optional(obj.get(CPU), f"{where}.{CPU}", _percent),
        mem_available=_optional(obj.get(MEM), f"{where}.{MEM}", _non_negative),
        enabled=_bool(obj.get("enabled", True), f"{where}.enabled"),
        status=status,
        host_type=_text(obj.get("host_type", "kvm"), f"{where}.host_type"),
        cpu_arch=_text(obj.get("cpu_arch", "x86_64"), f"{where}.cpu_arch"),
        zone=str(obj.get("zone") or ""),
    )


def _guest(data: Any, where: str, host_names: set[str]) -> GuestState:
    obj = _object(data, where, _GUEST_FIELDS, required={"name", "host", "vcpu_count", "vmem_size"})
    host = _text(obj["host"], f"{where}.host")
    if host not in host_names:
        raise ScenarioError(f"{where}.host: must name a host of the hosts list (got {host!r})")
    last_from = obj.get("last_migrated_from")
    return GuestState(
        name=_text(obj["name"], f"{where}.name"),
        host=host,
        vcpu_count=_positive_int(obj["vcpu_count"], f"{where}.vcpu_count"),
        vmem_size=_positive_int(obj["vmem_size"], f"{where}.vmem_size"),
        cpu=_optional(obj.get(CPU), f"{where}.{CPU}", _percent),
        status=_text(obj.get("status", "running"), f"{where}.status"),
        labels=_names(obj.get("labels", []), f"{where}.labels"),
        last_migrated_from=None if last_from is None else _text(last_from, f"{where}.last_migrated_from"),
        minutes_since_migration=_optional(
            obj.get("minutes_since_migration"), f"{where}.minutes_since_migration", _non_negative
        ),
    )


# --- field checkers: each returns the clean value or raises one line ---------


def _object(data: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if key not in data:
            raise ScenarioError(f"{where}.{key}: required")
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise ScenarioError(f"{where}: must be a list")
    return data


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: must be a non-empty string")
    return value


def _names(value: Any, where: str) -> frozenset[str]:
    items = _list(value, where)
    return frozenset(_text(item, f"{where}[{i}]") for i, item in enumerate(items))


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: must be true or false")
    return value


def _number(value: Any, where: str) -> float:
    # bool is an int in Python; `true` is not a number in a scenario.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: must be a number")
    return float(value)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScenarioError(f"{where}: must be a positive integer")
    return value


def _percent(value: Any, where: str) -> float:
    number = _number(value, where)
    if not 0 <= number <= 100:
        raise ScenarioError(f"{where}: must be a percent between 0 and 100, or null for no fresh samples")
    return number


def _non_negative(value: Any, where: str) -> float:
    number = _number(value, where)
    if number < 0:
        raise ScenarioError(f"{where}: must be a number >= 0, or null")
    return number


def _optional(value: Any, where: str, check: Callable[[Any, str], float]) -> float | None:
    return None if value is None else check(value, where)


def _unique(names: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ScenarioError(f"{where}[{i}].name: duplicate {what} name {name!r}")
        seen.add(name)
