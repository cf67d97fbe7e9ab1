"""Event notes for people: the reference's terse strings and JSON, as tables.

A ``find_result_fail`` note is one long line in the reference's format,
``not found target for guest G: [host:T:current(x) + guest:G:score(y) >=
threshold(z), ...]``, which admins have to read with a ruler. Here it becomes
rows of target / current / score / limit. Migration notes (guest, source,
target, scores) become "guest → target". Anything not understood is shown
as plain text: the raw JSON is always one click away in the template.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from automigrate.units import format_gib

_NOT_FOUND = re.compile(r"not found target for guest (?P<guest>.+?): \[(?P<entries>.*)\]\s*$", re.DOTALL)
# Entries are separated by ", " but one kind of entry ("gave up after N targets, M not tried") has
# a comma inside, so split only where the next entry starts.
_ENTRY_SPLIT = re.compile(r", (?=host:|\.\.\. )")
# host:T:current(x) + guest:G:score(y) >= threshold(z), and the same shape for the memory floor
# (host:T:mem.available(x) - guest:G:mem(y) <= floor(z)) and the CPU ceiling.
_ENTRY = re.compile(
    r"^host:(?P<target>.+?):(?P<measure>current|mem\.available|cpu\.usage_active)\((?P<current>[-+\d.eE]+)\)"
    r" (?P<op>[+-]) guest:(?P<guest>.+?):(?P<guest_measure>\w+)\((?P<score>[-+\d.eE]+)\)"
    r" (?P<cmp>>=|<=) (?P<limit>threshold|floor|ceiling)\((?P<limit_value>[-+\d.eE]+)\)$"
)
_OTHER_HOST = re.compile(r"^host:(?P<target>.+?):(?P<reason>[a-z_]+)\((?P<detail>.*)\)$")

# Bookkeeping keys that mean nothing to a reader (they stay in the raw JSON).
HIDDEN_KEYS = frozenset({"fingerprint", "res_name", "evaluation"})

LIMIT_WORDS = {"threshold": "rule threshold", "floor": "memory floor", "ceiling": "CPU ceiling"}


@dataclass
class TargetRow:
    target: str
    current: str = ""
    score: str = ""
    limit: str = ""
    limit_value: str = ""
    reason: str = ""


@dataclass
class FindResultFail:
    guest: str
    rows: list[TargetRow] = field(default_factory=list)


def _fmt(value: float, is_bytes: bool) -> str:
    return format_gib(value, 2) if is_bytes else f"{value:.2f}%"


def parse_entry(text: str) -> TargetRow:
    """One ``host:T:...`` entry as a row; unknown shapes keep their text as the reason."""
    text = text.strip()
    match = _ENTRY.match(text)
    if match:
        # A minus means "available memory minus the guest": byte values. A plus is CPU percent.
        is_bytes = match["op"] == "-"
        comparison = "≥" if match["cmp"] == ">=" else "≤"
        return TargetRow(
            target=match["target"],
            current=_fmt(float(match["current"]), is_bytes),
            score=_fmt(float(match["score"]), is_bytes),
            limit=LIMIT_WORDS[match["limit"]],
            limit_value=f"{comparison} {_fmt(float(match['limit_value']), is_bytes)}",
        )
    other = _OTHER_HOST.match(text)
    if other:
        return TargetRow(target=other["target"], reason=f"{other['reason'].replace('_', ' ')}: {other['detail']}")
    return TargetRow(target="", reason=text)


def parse_find_result_fail(text: str) -> FindResultFail | None:
    """The reference's failure note as rows, or None if ``text`` is not one."""
    match = _NOT_FOUND.search(text or "")
    if not match:
        return None
    entries = [entry for entry in _ENTRY_SPLIT.split(match["entries"]) if entry.strip()]
    return FindResultFail(guest=match["guest"], rows=[parse_entry(entry) for entry in entries])


def failure_texts(notes: Any) -> list[str]:
    """The failure strings in a note, wherever the evaluator put them."""
    if isinstance(notes, str):
        return [notes]
    if isinstance(notes, dict):
        texts = []
        if isinstance(notes.get("notes"), str):
            texts.append(notes["notes"])
        for failure in notes.get("failures") or []:
            if isinstance(failure, dict) and isinstance(failure.get("notes"), str):
                texts.append(failure["notes"])
            elif isinstance(failure, str):
                texts.append(failure)
        return texts
    if isinstance(notes, list):
        return [item for item in notes if isinstance(item, str)]
    return []


@dataclass
class MoveNote:
    guest: str
    source: str
    target: str
    guest_score: str
    target_score: str
    error: str = ""


def _score(value: Any) -> str:
    """A score from migration notes: CPU percent, or bytes for memory rules.

    The notes do not say which metric they are in (the reference's shape);
    a CPU share is at most 100, a memory score is a byte count far above it.
    """
    if not isinstance(value, int | float):
        return ""
    return _fmt(float(value), is_bytes=abs(value) > 100)


def _move(entry: Any, error: Any = "") -> MoveNote | None:
    if not isinstance(entry, dict):
        return None
    guest, target = entry.get("guest"), entry.get("target_host")
    if not isinstance(guest, dict) or not isinstance(target, dict):
        return None
    return MoveNote(
        guest=str(guest.get("name", "?")),
        source=str(guest.get("host", "")),
        target=str(target.get("name", "?")),
        guest_score=_score(guest.get("score")),
        target_score=_score(target.get("score")),
        error=str(error or entry.get("error") or ""),
    )


def parse_moves(notes: Any) -> list[MoveNote]:
    """Migration notes as guest → target lines.

    The reference's shape, ``{"guest": {...}, "target_host": {...}, "error"}``, is
    one move; recommendations (``moves``) and lock skips (``would_move``) list several.
    """
    if not isinstance(notes, dict):
        return []
    single = _move(notes)
    if single is not None:
        return [single]
    listed = notes.get("moves") or notes.get("would_move") or []
    return [move for entry in listed if isinstance(listed, list) and (move := _move(entry)) is not None]


def parse_changes(notes: Any) -> list[tuple[str, Any, Any]]:
    """Rule-change notes (``{"changes": {field: {"before", "after"}}}``) as rows."""
    if not isinstance(notes, dict) or not isinstance(notes.get("changes"), dict):
        return []
    rows = []
    for name, change in notes["changes"].items():
        if isinstance(change, dict):
            rows.append((name, change.get("before"), change.get("after")))
    return rows


def scalar_items(notes: Any) -> list[tuple[str, Any]]:
    """Top-level key/values that read well in one line; nested values stay in the raw JSON."""
    if not isinstance(notes, dict):
        return []
    return [
        (key, value) for key, value in notes.items()
        if isinstance(value, str | int | float | bool) and key not in HIDDEN_KEYS
    ]


def raw_json(notes: Any) -> str:
    return json.dumps(notes, indent=2, sort_keys=True, ensure_ascii=False, default=str)
