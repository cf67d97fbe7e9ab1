"""The cluster as the plan would leave it: mutable per-host loads.

Every decision in a run reads and updates one shared projection, so a move
chosen for one firing host is already counted when the next one looks for a
target (two hosts never pile onto the same target).
"""

from __future__ import annotations

from automigrate.engine.model import CPU, HostState
from automigrate.engine.scoring import cpu_share


class HostLoad:
    """A host's projected CPU percent and available bytes, plus moves touching it."""

    # name, cpu_count and group are the state's, copied once: a plan reads them for every
    # host several times (sorting targets, each placement), and a property per read was a
    # tenth of an uncapped 50,000-host plan. The state is never replaced.
    __slots__ = ("cpu", "cpu_count", "group", "lift", "mem", "moves", "name", "state")

    def __init__(self, state: HostState, cpu: float | None = None) -> None:
        self.state = state
        self.name: str = state.name
        self.cpu_count: int = state.cpu_count
        # Hosts a guest can live-migrate between: same hypervisor, CPU arch and zone (if any).
        self.group: tuple[str, ...] = (state.host_type, state.cpu_arch, state.zone)
        # ``cpu``: the value to plan with when it is not the mean (a target's cautious forecast).
        self.cpu = state.cpu if cpu is None else cpu
        self.lift = 0.0 if cpu is None or state.cpu is None else cpu - state.cpu  # planned above the mean by
        self.mem = state.mem_available
        self.moves = 0  # moves of this plan with this host as source or target

    def value(self, metric: str) -> float | None:
        return self.cpu if metric == CPU else self.mem

    def reported(self, metric: str) -> float | None:
        """The value as the plan leaves it, on the mean (without a forecast's lift)."""
        value = self.value(metric)
        return value - self.lift if metric == CPU and value is not None else value

    def give(self, demand: float, num_bytes: int) -> None:
        """A guest with ``demand`` vCPU-percent and ``num_bytes`` leaves this host."""
        if self.cpu is not None:
            self.cpu -= cpu_share(demand, self.cpu_count)
        if self.mem is not None:
            self.mem += num_bytes
        self.moves += 1

    def take(self, demand: float, num_bytes: int) -> None:
        """A guest with ``demand`` vCPU-percent and ``num_bytes`` arrives on this host."""
        if self.cpu is not None:
            self.cpu += cpu_share(demand, self.cpu_count)
        if self.mem is not None:
            self.mem -= num_bytes
        self.moves += 1
