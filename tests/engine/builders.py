"""Small builders so each engine test states only what matters to it."""

from __future__ import annotations

from automigrate.engine import CPU, MEM, GuestState, HostState, RuleSpec, Snapshot

GIB = 1024**3


def host(
    name: str,
    cpu: float | None = 10.0,
    mem_gib: float | None = 128,
    *,
    cpu_count: int = 40,
    mem_total_gib: float = 256,
    **kw,
) -> HostState:
    return HostState(
        name=name,
        cpu_count=cpu_count,
        mem_total=int(mem_total_gib * GIB),
        cpu=cpu,
        mem_available=None if mem_gib is None else mem_gib * GIB,
        **kw,
    )


def guest(name: str, on: str, cpu: float | None = 50.0, *, vcpus: int = 8, mem_mb: int = 8192, **kw) -> GuestState:
    if "labels" in kw:
        kw["labels"] = frozenset(kw["labels"])
    return GuestState(name=name, host=on, vcpu_count=vcpus, vmem_size=mem_mb, cpu=cpu, **kw)


def cpu_rule(threshold: float = 60, **kw) -> RuleSpec:
    return RuleSpec(name="test-cpu", metric=CPU, threshold=threshold, **{k: frozenset(v) for k, v in kw.items()})


def mem_rule(threshold_gib: float = 16, **kw) -> RuleSpec:
    return RuleSpec(
        name="test-mem", metric=MEM, threshold=threshold_gib * GIB, **{k: frozenset(v) for k, v in kw.items()}
    )


def snap(hosts, guests=()) -> Snapshot:
    return Snapshot(hosts=tuple(hosts), guests=tuple(guests))
