"""Guest load shapes of the simulated cluster: pure functions of (workload, guest, time).

A workload is a small dict stored on the Guest (``{"shape": "wave", "level": 30, ...}``),
so web, worker and beat (separate processes) all see the same load. The value
at a time is deterministic: the same guest at the same 10-s step always
gives the same number, which keeps tests and benchmarks reproducible and
needs no state between ticks.
"""

from __future__ import annotations

import math
import random

STEADY, WAVE, BURSTY, STRESS, IDLE = "steady", "wave", "bursty", "stress", "idle"
SHAPES = (STEADY, WAVE, BURSTY, STRESS, IDLE)
DAY_SECONDS = 86400.0
STEP_SECONDS = 10  # noise and bursts change every step, like one telegraf sample


def unit(*parts: float) -> float:
    """A deterministic number in [0, 1) for these parts (a cheap integer hash, no RNG state)."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x ^= int(part) & 0xFFFFFFFFFFFFFFFF
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return (x & 0xFFFFFFFF) / 2**32


def usage(workload: dict, key: int, t: float) -> float:
    """CPU busy % of the guest's own vCPUs at epoch second ``t``; ``key`` is the guest's id."""
    shape = workload.get("shape", STEADY)
    level = float(workload.get("level", 20.0))
    step = int(t // STEP_SECONDS)
    noise = (unit(key, step) - 0.5) * 2 * float(workload.get("noise", 3.0))
    if shape == STRESS:
        # stress-ng --cpu N: every vCPU pinned at 100 %.
        return 100.0
    if shape == IDLE:
        value = 1.0 + abs(noise) / 3
    elif shape == WAVE:
        period = float(workload.get("period", DAY_SECONDS))
        phase = float(workload.get("phase", 0.0))
        value = level + float(workload.get("amplitude", 15.0)) * math.sin(2 * math.pi * (t / period + phase)) + noise
    elif shape == BURSTY:
        # Bursts last a minute: whether one is on is drawn per minute, not per sample.
        burst_on = unit(key, t // 60, 7) < float(workload.get("burst_probability", 0.1))
        value = level + (float(workload.get("burst", 60.0)) if burst_on else 0.0) + noise
    else:
        value = level + noise
    return min(100.0, max(0.0, value))


def random_workload(rng: random.Random) -> dict:
    """A plausible mix for a demo cluster: mostly steady and daily waves, some bursty, a few idle."""
    draw = rng.random()
    if draw < 0.45:
        return {"shape": STEADY, "level": round(rng.uniform(5, 30), 1)}
    if draw < 0.75:
        return {"shape": WAVE, "level": round(rng.uniform(10, 30), 1), "amplitude": round(rng.uniform(5, 15), 1),
                "phase": round(rng.random(), 3)}
    if draw < 0.93:
        return {"shape": BURSTY, "level": round(rng.uniform(5, 20), 1), "burst": round(rng.uniform(30, 70), 1),
                "burst_probability": 0.1}
    return {"shape": IDLE}
