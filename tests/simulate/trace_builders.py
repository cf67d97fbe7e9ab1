"""Builders for small hand-made traces whose right answer is known."""

import json
from pathlib import Path

from automigrate.simulator.traces import GuestTrace, HostSpec, Trace

GIB = 1024**3


def host(name: str, cpu_count: int = 8, mem_gib: int = 64) -> HostSpec:
    return HostSpec(name, cpu_count, mem_gib * GIB)


def guest(name: str, on: str, cpu: list[float], vcpus: int = 4, mem_mb: int = 4096) -> GuestTrace:
    return GuestTrace(name, vcpus, mem_mb, tuple(float(c) for c in cpu), host=on)


def trace(hosts: list[HostSpec], guests: list[GuestTrace], step: int = 300) -> Trace:
    return Trace("hand-made", "json", step, tuple(hosts), tuple(guests))


def to_json(t: Trace) -> str:
    return json.dumps({
        "step_seconds": t.step_seconds,
        "hosts": [{"name": h.name, "cpu_count": h.cpu_count, "mem_total": h.mem_total} for h in t.hosts],
        "guests": [
            {"name": g.name, "host": g.host, "vcpu_count": g.vcpu_count, "vmem_size": g.vmem_size, "cpu": list(g.cpu)}
            for g in t.guests
        ],
    })


def hot_then_calm() -> Trace:
    """h1 at 70 % for the first 30 minutes (6 steps of 5 min), then 25 %; h2 idle.

    h1 = (vm1 4 vCPUs at 100 % + vm2 4 vCPUs at 40 %) / 8 cores = 70 %.
    """
    steps = 12
    return trace(
        [host("h1"), host("h2")],
        [
            guest("vm1", "h1", [100] * 6 + [10] * (steps - 6), mem_mb=8192),
            guest("vm2", "h1", [40] * steps),
            guest("vm3", "h2", [5] * steps),
        ],
    )


def write_json(folder: Path, t: Trace, name: str = "trace.json") -> Path:
    path = folder / name
    path.write_text(to_json(t))
    return path
