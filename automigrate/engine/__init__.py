"""The balancing engine: pure Python, no Django import.

Given a snapshot of the cluster and a rule, ``plan()`` returns a Plan: which
guests move where, and why every other guest or host could not be helped.
It decides; it never fetches or executes.
"""

from automigrate.engine.model import (
    CPU,
    MEM,
    METRICS,
    Failure,
    GuestState,
    HostState,
    Move,
    Plan,
    RuleSpec,
    Skip,
    Snapshot,
    Tuning,
)
from automigrate.engine.planner import plan

__all__ = [
    "CPU",
    "MEM",
    "METRICS",
    "Failure",
    "GuestState",
    "HostState",
    "Move",
    "Plan",
    "RuleSpec",
    "Skip",
    "Snapshot",
    "Tuning",
    "plan",
]
