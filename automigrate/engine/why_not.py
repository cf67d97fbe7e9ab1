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

import re

from automigrate.engine.model import Plan
from automigrate.engine.scoring import GIB

MAX_TARGETS_SHOWN = 3
_ENTRY = re.compile(
    r"host:(?P<target>[^:]+):(?:current|mem\.available|cpu\.usage_active)\((?P<current>[-+\d.eE]+)\)"
    r" (?P<op>[+-]) guest:[^:]+:\w+\((?P<score>[-+\d.eE]+)\) (?P<cmp>>=|<=) \w+\((?P<limit>[-+\d.eE]+)\)"
)
_LOW_RELIEF = re.compile(r"by (?P<relief>[\d.]+) points, less than (?P<floor>[\d.]+)")


def _number(value: float, is_bytes: bool, percent: bool) -> str:
    if is_bytes:
        return f"{value / GIB:.2f} GiB"
    return f"{value:.2f}%" if percent else f"{value:.2f}"


def no_target_text(notes: str) -> str:
    """The reference's "not found target" note as ``h2 61.20% + 3.10 >= 60.00%; ...`` (first few targets)."""
    entries = list(_ENTRY.finditer(notes))
    if not entries:
        inner = notes.split(": [", 1)[-1].rstrip("]")
        return inner or notes
    shown = []
    for entry in entries[:MAX_TARGETS_SHOWN]:
        is_bytes = entry["op"] == "-"
        shown.append(
            f"{entry['target']} {_number(float(entry['current']), is_bytes, True)} {entry['op']}"
            f" {_number(float(entry['score']), is_bytes, False)} {entry['cmp']}"
            f" {_number(float(entry['limit']), is_bytes, True)}"
        )
    more = len(entries) - MAX_TARGETS_SHOWN
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _skip_text(reason: str, detail: str) -> str:
    if reason == "low_relief":
        match = _LOW_RELIEF.search(detail)
        if match:
            return f"low relief ({float(match['relief']):.2f} points, less than {match['floor']})"
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
                         "detail": f"no target ({no_target_text(failure.notes)})"})
    for skip in plan.skipped:
        if skip.host == host and skip.guest:
            rows.append({"guest": skip.guest, "reason": skip.reason, "detail": _skip_text(skip.reason, skip.detail)})
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
