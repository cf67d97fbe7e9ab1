"""Text of every explanation the engine gives, in one place.

Failure notes keep the reference's format exactly (users and their scripts
already read it): ``not found target for guest G: [entry, entry, ...]`` with
``host:T:current(x) + guest:G:score(y) >= threshold(z)`` for CPU and
``host:T:current(x) - guest:G:score(y) <= threshold(z)`` for memory, numbers
with 6 decimals. Entries for limits the reference did not have (the other
resource, bounce-back) follow the same ``host:T:...`` shape.

The engine decides in records (``model.Rejection`` per refused target, the
counts on ``model.Failure``); every note string is rendered from them here,
so the text and the data can never disagree, and readers (dashboard, CLI,
why_not) use the records instead of parsing the text.
"""

from __future__ import annotations

from collections.abc import Sequence

from automigrate.engine.model import CPU, MEM, Failure, Plan, Rejection
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


def moves_cap_entry(target: str, guest: str, size: int, cap: int) -> str:
    """Why ``target`` cannot take a whole affinity unit: its moves would pass the per-host cap."""
    return f"host:{target}:max_moves_per_host({cap}) cannot take the {size} guests of {guest}"


def same_host_entry(target: str) -> str:
    return f"host:{target}:the guest is already there"


# Short reason codes of Rejection.reason, with their meaning (placement uses the group kind).
REASONS = {
    "over_threshold": "the target would reach the rule's CPU threshold",
    "under_threshold": "the target's available memory would fall to the rule's threshold",
    "under_mem_floor": "the target's available memory would fall to the memory floor",
    "over_cpu_ceiling": "the target's CPU would reach the CPU ceiling",
    "bounce_back": "the guest left this target too recently",
    "max_moves_per_host": "the target cannot take every guest of an affinity unit",
    "already_there": "the guest already runs on the target",
}


def threshold_rejection(metric: str, target: str, guest: str, current: float, score: float,
                        threshold: float) -> Rejection:
    cpu = metric == CPU
    return Rejection(target=target, limit="threshold", reason="over_threshold" if cpu else "under_threshold",
                     guest=guest, current=current, score=score, limit_value=threshold, unit="%" if cpu else "bytes")


def mem_floor_rejection(target: str, guest: str, available: float, guest_bytes: float, floor: float) -> Rejection:
    return Rejection(target=target, limit="mem_floor", reason="under_mem_floor", guest=guest, current=available,
                     score=guest_bytes, limit_value=floor, unit="bytes")


def cpu_ceiling_rejection(target: str, guest: str, current: float, share: float, ceiling: float) -> Rejection:
    return Rejection(target=target, limit="cpu_ceiling", reason="over_cpu_ceiling", guest=guest, current=current,
                     score=share, limit_value=ceiling, unit="%")


def bounce_back_rejection(target: str, guest: str, minutes_ago: float | None, no_return_minutes: float) -> Rejection:
    return Rejection(target=target, limit="bounce_back", reason="bounce_back", guest=guest, current=minutes_ago,
                     limit_value=no_return_minutes, unit="min")


def rejection_text(r: Rejection) -> str:
    """One entry of a failure note, in the reference's format where it had one."""
    if r.limit == "threshold":
        metric = CPU if r.unit == "%" else MEM
        return threshold_entry(metric, r.target, r.guest, r.current or 0.0, r.score or 0.0, r.limit_value or 0.0)
    if r.limit == "mem_floor":
        return mem_floor_entry(r.target, r.guest, r.current or 0.0, r.score or 0.0, r.limit_value or 0.0)
    if r.limit == "cpu_ceiling":
        return cpu_ceiling_entry(r.target, r.guest, r.current or 0.0, r.score or 0.0, r.limit_value or 0.0)
    if r.limit == "bounce_back":
        return bounce_back_entry(r.target, r.guest, r.current, r.limit_value or 0.0)
    if r.limit == "moves_per_host":
        return moves_cap_entry(r.target, r.guest, int(r.score or 0), int(r.limit_value or 0))
    if r.limit == "same_host":
        return same_host_entry(r.target)
    if r.limit == "placement":
        return placement_text(r.reason, r.group, r.strength, r.detail)
    return r.detail


def placement_text(kind: str, group: str, strength: str, why: str) -> str:
    """Why a placement group forbids a move: ``anti-affinity group db: db-2 already on h3``."""
    return f"{kind} group {group}{'' if strength == 'must' else ' (should)'}: {why}"


def no_eligible_text(scope: dict) -> str:
    where = f" in zone {scope['zone']}" if scope.get("zone") else ""
    return (f" (no eligible target host with host_type {scope.get('host_type', '')}"
            f" and cpu_arch {scope.get('cpu_arch', '')}{where} left)")


def not_found_note(guest: str, entries: Sequence[Rejection | str], more: int = 0, untried: int = 0,
                   probes: int = 0, scope: dict | None = None) -> str:
    """The reference's ``find_result_fail`` note, with a bounded target list.

    ``entries`` are the records (or, for callers with their own wording, strings);
    ``scope`` (host_type, cpu_arch, zone) is named when there was no target at all.
    """
    listed = [e if isinstance(e, str) else rejection_text(e) for e in entries]
    if more > 0:
        listed.append(f"... and {more} more")
    if untried > 0:
        listed.append(f"... gave up after {probes} targets, {untried} not tried")
    note = f"not found target for guest {guest}: [{', '.join(listed)}]"
    if not entries and scope is not None:
        note += no_eligible_text(scope)
    return note


def failure_note(failure: Failure) -> str:
    """A guest failure's note rendered again from its records (the same text as ``Failure.notes``)."""
    probes = len(failure.rejections) + failure.not_listed
    return not_found_note(failure.guest or "", failure.rejections, failure.not_listed, failure.not_tried, probes,
                          failure.scope if failure.reason == "no_eligible_target" else None)


def fmt_value(metric: str, value: float) -> str:
    """A rule-metric value for humans: ``62.31%`` or ``12.5 GiB``."""
    if metric == CPU:
        return f"{value:.2f}%"
    return f"{value / GIB:.2f} GiB"


# --- tables: the records as rows for the dashboard and the CLI ------------

LIMIT_WORDS = {
    "threshold": "rule threshold",
    "mem_floor": "memory floor",
    "cpu_ceiling": "CPU ceiling",
    "bounce_back": "no-return window",
    "placement": "placement group",
    "moves_per_host": "max moves per host",
    "same_host": "same host",
}


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    if unit == "bytes":
        return f"{value / GIB:.2f} GiB"
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "min":
        return f"{value:.1f} min"
    return f"{value:g}"


def rejection_row(r: Rejection) -> dict[str, str]:
    """One refused target as table cells: target, current, score, limit, limit_value, note.

    Limits with numbers fill current / score / limit_value; the others
    (placement groups, the same host) say it in ``note``.
    """
    row = {"target": r.target, "current": "", "score": "", "limit": LIMIT_WORDS.get(r.limit, r.limit),
           "limit_value": "", "note": ""}
    if r.limit in ("threshold", "mem_floor", "cpu_ceiling"):
        comparison = "≤" if r.unit == "bytes" else "≥"
        row.update(current=_amount(r.current, r.unit), score=_amount(r.score, r.unit),
                   limit_value=f"{comparison} {_amount(r.limit_value, r.unit)}")
    elif r.limit == "bounce_back":
        row.update(current=f"left {_amount(r.current, 'min')} ago" + (f" ({r.guest})" if r.guest else ""),
                   limit_value=f"< {_amount(r.limit_value, 'min')}")
    elif r.limit == "moves_per_host":
        row.update(current=f"{_amount(r.current, '')} moves", score=f"+{_amount(r.score, '')} guests",
                   limit_value=f"≤ {_amount(r.limit_value, '')}")
    else:
        row["note"] = rejection_text(r)
    return row


def tail_rows(not_listed: int, not_tried: int, listed: int, reason: str, scope: dict) -> list[dict[str, str]]:
    """The rows after the refused targets: how many more, how many never tried, or no target at all."""
    empty = {"target": "", "current": "", "score": "", "limit": "", "limit_value": ""}
    rows = []
    if not_listed > 0:
        rows.append({**empty, "note": f"... and {not_listed} more"})
    if not_tried > 0:
        rows.append({**empty, "note": f"... gave up after {listed + not_listed} targets, {not_tried} not tried"})
    if reason == "no_eligible_target":
        rows.append({**empty, "note": no_eligible_text(scope).strip(" ()")})
    return rows


def failure_rows(failure: Failure) -> list[dict[str, str]]:
    """Every row of a failure's table, from its records."""
    rows = [rejection_row(r) for r in failure.rejections]
    return rows + tail_rows(failure.not_listed, failure.not_tried, len(failure.rejections), failure.reason,
                            failure.scope)


_COLUMNS = (("target", "target tried"), ("current", "current"), ("score", "+ guest"), ("limit", "limit"),
            ("limit_value", "limit value"))


def failure_table_lines(failure: Failure, indent: str = "  ") -> list[str]:
    """A failure's records as an aligned text table (the CLI's counterpart of the dashboard's)."""
    rows = failure_rows(failure)
    if not rows:
        return []
    numeric = [r for r in rows if not r["note"]]
    widths = {key: max([len(title)] + [len(r[key]) for r in numeric]) for key, title in _COLUMNS}
    out = [indent + "  ".join(title.ljust(widths[key]) for key, title in _COLUMNS).rstrip()]
    for row in rows:
        if row["note"]:
            out.append(indent + "  ".join(x for x in (row["target"].ljust(widths["target"]) if row["target"] else "",
                                                       row["note"]) if x))
        else:
            out.append(indent + "  ".join(row[key].ljust(widths[key]) for key, _ in _COLUMNS).rstrip())
    return out


def plan_lines(plan: Plan) -> list[str]:
    """A plan for people: what fires, the moves, and for each failure its table (all from the records)."""
    sign = ">" if plan.metric == CPU else "<"
    lines = [f"rule {plan.rule} (policy {plan.policy}, {plan.metric} {sign} {fmt_value(plan.metric, plan.threshold)}):"
             f" {plan.result}"]
    if plan.triggered:
        firing = ", ".join(f"{t['host']} {fmt_value(plan.metric, t['value'])}" for t in plan.triggered)
        lines.append(f"firing: {firing}")
    for move in plan.moves:
        lines.append(f"move {move.guest}: {move.source} -> {move.target}"
                     f" ({move.source} {fmt_value(plan.metric, move.source_before)} ->"
                     f" {fmt_value(plan.metric, move.source_after)}; {move.target}"
                     f" {fmt_value(plan.metric, move.target_before)} -> {fmt_value(plan.metric, move.target_after)})")
    for failure in plan.failures:
        table = failure_table_lines(failure)
        if table:
            lines.append(f"no target for {failure.guest} on {failure.host}:")
            lines += table
        else:
            lines.append(f"not relieved: {failure.notes}")
    for skip in plan.skipped:
        who = " ".join(x for x in (skip.host or "", skip.guest or "") if x)
        lines.append(f"skipped {who}: {skip.reason}" + (f" ({skip.detail})" if skip.detail else ""))
    return lines
