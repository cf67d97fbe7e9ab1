"""Why each candidate guest of a host that still fires did not move: from the plan's own reasons.

The plan already holds every reason (``Plan.skipped`` for guests that may not
move, ``Plan.failures`` for guests with no target, ``Plan.moves`` for what was
planned); the Preview shows them as tables. This turns one host's share into
short lines for events, the API and the CLI, with the numbers:

    vm-a: cooldown (migrated 3.0 min ago, cooldown is 30 min)
    vm-b: low relief (0.40 points, less than 1)
    vm-c: no target (h2 61.20% + 3.10 >= 60.00%; a15 62.31% + 3.10 >= 60.00%)
    vm-d: planned → h4
"""

from __future__ import annotations

from automigrate.engine import explain
from automigrate.engine.model import Failure, Plan, Rejection
from automigrate.engine.scoring import GIB

MAX_TARGETS_SHOWN = 3
# The limits whose records carry current + score against a limit value.
_NUMERIC = frozenset({"threshold", "mem_floor", "cpu_ceiling"})


def _number(value: float, unit: str, percent: bool) -> str:
    if unit == "bytes":
        return f"{value / GIB:.2f} GiB"
    return f"{value:.2f}%" if percent else f"{value:.2f}"


def rejection_short(r: Rejection) -> str:
    """One refused target in a few words: ``h2 61.20% + 3.10 >= 60.00%`` (memory: ``-`` and ``<=``, in GiB)."""
    if r.limit not in _NUMERIC:
        return explain.rejection_text(r)
    op, cmp = ("-", "<=") if r.unit == "bytes" else ("+", ">=")
    return (f"{r.target} {_number(r.current or 0.0, r.unit, True)} {op} {_number(r.score or 0.0, r.unit, False)}"
            f" {cmp} {_number(r.limit_value or 0.0, r.unit, True)}")


def no_target_text(failure: Failure) -> str:
    """A guest's failure as ``h2 61.20% + 3.10 >= 60.00%; ...`` (first few targets), from its records."""
    if not failure.rejections:
        if failure.reason == "no_eligible_target":
            return explain.no_eligible_text(failure.scope).strip(" ()")
        inner = failure.notes.split(": [", 1)[-1].rstrip("]")
        return inner or failure.notes
    shown = [rejection_short(r) for r in failure.rejections[:MAX_TARGETS_SHOWN]]
    more = len(failure.rejections) - MAX_TARGETS_SHOWN + failure.not_listed + failure.not_tried
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _skip_text(reason: str, detail: str, data: dict) -> str:
    if reason == "low_relief" and "relief" in data and "floor" in data:
        return f"low relief ({data['relief']:.2f} points, less than {data['floor']:g})"
    words = reason.replace("_", " ")
    return f"{words} ({detail})" if detail else words


def candidates(plan: Plan, host: str) -> list[dict]:
    """Every guest of ``host`` the plan considered: {guest, reason, detail}, in the plan's order."""
    rows = []
    for move in plan.moves:
        if move.source == host:
            rows.append({"guest": move.guest, "reason": "planned", "detail": f"planned → {move.target}"})
    for failure in plan.failures:
        if failure.host == host and failure.guest:
            rows.append({"guest": failure.guest, "reason": "no_target",
                         "detail": f"no target ({no_target_text(failure)})"})
    for skip in plan.skipped:
        if skip.host == host and skip.guest:
            rows.append({"guest": skip.guest, "reason": skip.reason,
                         "detail": _skip_text(skip.reason, skip.detail, skip.data)})
    return rows


def lines(rows: list[dict]) -> list[str]:
    return [f"{row['guest']}: {row['detail']}" for row in rows]


def summary(rows: list[dict], limit: int = 8) -> str:
    """The candidates in one line: ``vm-a: cooldown (...); vm-b: low relief (...)``."""
    if not rows:
        return "no guest on the host to consider"
    shown = lines(rows[:limit])
    more = len(rows) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
