"""Text of every explanation the engine gives, in one place.

Failure notes keep the reference's format exactly (users and their scripts
already read it): ``not found target for guest G: [entry, entry, ...]`` with
``host:T:current(x) + guest:G:score(y) >= threshold(z)`` for CPU and
``host:T:current(x) - guest:G:score(y) <= threshold(z)`` for memory, numbers
with 6 decimals. Entries for limits the reference did not have (the other
resource, bounce-back) follow the same ``host:T:...`` shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from automigrate.engine.model import CPU, MEM
from automigrate.engine.scoring import GIB

# Failure notes list at most this many targets: the reference lists all it
# tried, which on a 10,000-host cluster is an unreadable (and costly) note.
MAX_NOTE_TARGETS = 10


def threshold_entry(metric: str, target: str, guest: str, current: float, score: float, threshold: float) -> str:
    """Why ``target`` cannot take ``guest`` on the rule metric (reference format)."""
    if metric == CPU:
        return f"host:{target}:current({current:.6f}) + guest:{guest}:score({score:.6f}) >= threshold({threshold:.6f})"
    return f"host:{target}:current({current:.6f}) - guest:{guest}:score({score:.6f}) <= threshold({threshold:.6f})"


def mem_floor_entry(target: str, guest: str, available: float, guest_bytes: float, floor: float) -> str:
    """Why a CPU move would leave ``target`` with too little memory."""
    return f"host:{target}:{MEM}({available:.6f}) - guest:{guest}:mem({guest_bytes:.6f}) <= floor({floor:.6f})"


def cpu_ceiling_entry(target: str, guest: str, current: float, share: float, ceiling: float) -> str:
    """Why a memory move would push ``target``'s CPU too high."""
    return f"host:{target}:{CPU}({current:.6f}) + guest:{guest}:cpu({share:.6f}) >= ceiling({ceiling:.6f})"


def bounce_back_entry(target: str, guest: str, minutes_ago: float | None, no_return_minutes: float) -> str:
    """Why ``guest`` may not return to ``target`` yet."""
    ago = "?" if minutes_ago is None else f"{minutes_ago:.1f}"
    window = f"no-return window {no_return_minutes:.1f} min"
    return f"host:{target}:bounce_back(guest:{guest} left it {ago} min ago < {window})"


def not_found_note(guest: str, entries: Sequence[str], more: int = 0, untried: int = 0, probes: int = 0) -> str:
    """The reference's ``find_result_fail`` note, with a bounded target list."""
    listed = list(entries)
    if more > 0:
        listed.append(f"... and {more} more")
    if untried > 0:
        listed.append(f"... gave up after {probes} targets, {untried} not tried")
    return f"not found target for guest {guest}: [{', '.join(listed)}]"


def fmt_value(metric: str, value: float) -> str:
    """A rule-metric value for humans: ``62.31%`` or ``12.5 GiB``."""
    if metric == CPU:
        return f"{value:.2f}%"
    return f"{value / GIB:.2f} GiB"
