"""One definition per metric: what a host's value is and what a guest adds.

The reference mixed ``mem.available`` and ``mem.free`` and projected CPU with
the source's core count on the target. Everything that turns raw numbers into
rule-metric values goes through this module, so there is exactly one answer.

Units: CPU values are percent of a host's capacity (0-100, all cores); a
guest's CPU *demand* is ``usage × vcpus`` in "vCPU-percent" (100 = one core
fully busy), which divided by a host's ``cpu_count`` is the share of that
host it occupies. Memory values are bytes.
"""

from __future__ import annotations

from automigrate.engine.model import CPU, MEM, GuestState, HostState, Skip, Tuning

MIB = 1024 * 1024
GIB = 1024 * MIB


def host_value(host: HostState, metric: str) -> float | None:
    """The host's window mean on ``metric``; None when it has no fresh samples."""
    return host.cpu if metric == CPU else host.mem_available


def other_metric(metric: str) -> str:
    """The resource a move on ``metric`` must also keep within limits on the target."""
    return MEM if metric == CPU else CPU


def guest_bytes(guest: GuestState) -> int:
    """Memory a live migration copies and the target must hold: vmem_size MB in bytes."""
    return guest.vmem_size * MIB


def cpu_demand(guest: GuestState) -> float:
    """Guest CPU in vCPU-percent (``usage × vcpus``), independent of any host.

    Keeping demand host-independent is what lets the same guest be scored with
    the source's core count on the source and the target's on the target.
    """
    return guest_cpu(guest) * guest.vcpu_count


def guest_cpu(guest: GuestState) -> float:
    """The guest's CPU to plan with: its forecast of the next window when it has one, else its mean.

    A guest whose burst just ended relieves its host of little; one that is
    rising relieves it of more than its mean says.
    """
    if guest.forecast is not None and guest.cpu is not None:
        return guest.forecast.value
    return guest.cpu or 0.0


def cpu_share(demand: float, cpu_count: int) -> float:
    """Percent of a host with ``cpu_count`` cores that ``demand`` occupies."""
    return demand / cpu_count


def fires(value: float, metric: str, threshold: float) -> bool:
    """The trigger: CPU busy above the threshold, or memory available below it."""
    return value > threshold if metric == CPU else value < threshold


def goal(metric: str, threshold: float, hysteresis_fraction: float) -> float:
    """Where a relieved host should land: past the threshold by a margin.

    Stopping exactly at the threshold would leave the host one noisy sample
    away from firing again; the margin (a fraction of the threshold) absorbs it.
    """
    margin = abs(threshold) * hysteresis_fraction
    return threshold - margin if metric == CPU else threshold + margin


def hotness(value: float, metric: str) -> float:
    """Sort key, larger = worse: CPU busy percent, or negated memory available."""
    return value if metric == CPU else -value


# --- forecasts (engine/forecast.py): what a host will do, beside what it did ---------


def forecast_holds(host: HostState, metric: str, threshold: float, z: float) -> Skip | None:
    """A Skip when ``host`` fires on its mean but its forecast says the next window is under.

    Conservative: the forecast plus ``z`` spreads must be under the threshold,
    so an uncertain forecast never holds a host back. CPU only; a host without
    a forecast (None) is judged on its mean, as before.
    """
    cast = host.forecast
    if metric != CPU or cast is None or host.cpu is None:
        return None
    high = cast.upper(z)
    if fires(high, metric, threshold):
        return None
    margin = f"{cast.value:.0f} % + {z:g} x {cast.spread:.1f}" if z and cast.spread else f"{cast.value:.0f} %"
    detail = (f"{cast.reason}; nothing moved: {host.name}'s {metric} mean {host.cpu:.1f} % is over the threshold"
              f" {threshold:g} %, but its forecast ({margin} = {high:.1f} %) is not")
    return Skip(reason="forecast_under", host=host.name, detail=detail)


def forecast_fires(host: HostState, metric: str, threshold: float) -> bool:
    """A host under the threshold on its mean whose forecast is over it (Tuning.forecast_fires)."""
    cast = host.forecast
    return metric == CPU and cast is not None and host.cpu is not None and fires(cast.value, metric, threshold)


def planning_cpu(host: HostState, metric: str, threshold: float, tuning: Tuning) -> float | None:
    """The CPU a host is planned with.

    As a target: the larger of its mean and its cautious forecast (forecast plus
    ``forecast_target_z`` spreads), so a target forecast to rise is not filled up to
    the threshold on the strength of a quiet past window. As a source: its mean, or
    with ``forecast_source="max"`` the larger of mean and forecast.
    """
    cast = host.forecast
    if cast is None or host.cpu is None:
        return host.cpu
    source = metric == CPU and (fires(host.cpu, CPU, threshold)
                                 or (tuning.forecast_fires and fires(cast.value, CPU, threshold)))
    if source:
        return max(host.cpu, cast.value) if tuning.forecast_source == "max" else host.cpu
    return max(host.cpu, cast.upper(tuning.forecast_target_z))
