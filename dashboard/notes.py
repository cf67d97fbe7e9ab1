"""Event notes for people: the engine's records and the reference's JSON, as tables.

A ``find_result_fail`` event stores the reference's one-line note
(``not found target for guest G: [host:T:current(x) + guest:G:score(y) >=
threshold(z), ...]``, which users' scripts read) and, beside it, the records
it was rendered from (``rejections``, ``not_listed``, ``not_tried``, ``reason``,
``scope``: ``engine.model.Failure.records``). The table of target / current /
score / limit comes from those records, never from the text: the text is for
people and scripts, the records for programs.

Events written before the records existed have only the text; they show it
as it is (it is complete and in the format their readers know). No parser is
kept for them: a second reading of the format, to keep in step with the
engine's, is what the records replace, and those events age out with
``AUTOMIGRATE_EVENT_RETENTION_DAYS``.

Migration notes (guest, source, target, scores) become "guest → target".
The raw JSON is always one click away in the template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from automigrate.engine import explain
from automigrate.engine.model import Failure, failure_from_dict
from automigrate.units import format_gib

# Bookkeeping keys that mean nothing to a reader (they stay in the raw JSON).
HIDDEN_KEYS = frozenset({"fingerprint", "res_name", "evaluation"})


@dataclass
class TargetRow:
    target: str
    current: str = ""
    score: str = ""
    limit: str = ""
    limit_value: str = ""
    reason: str = ""  # limits without numbers (placement groups) and the tail ("... and 7 more")


@dataclass
class FindResultFail:
    guest: str
    rows: list[TargetRow] = field(default_factory=list)


def _fmt(value: float, is_bytes: bool) -> str:
    return format_gib(value, 2) if is_bytes else f"{value:.2f}%"


def failure_table(failure: Failure | dict | None) -> FindResultFail | None:
    """A failure's records as a table; None when it has none (an old event, a host-level failure)."""
    if isinstance(failure, dict):
        failure = failure_from_dict(failure)
    if failure is None or not (failure.rejections or failure.not_listed or failure.not_tried
                               or failure.reason == "no_eligible_target"):
        return None
    rows = [
        TargetRow(target=row["target"], current=row["current"], score=row["score"], limit=row["limit"],
                  limit_value=row["limit_value"], reason=row["note"])
        for row in explain.failure_rows(failure)
    ]
    return FindResultFail(guest=failure.guest or "", rows=rows)


def failure_tables(notes: Any) -> list[FindResultFail]:
    """The failure tables of an event, wherever the evaluator (or maintenance) put the records."""
    if not isinstance(notes, dict):
        return []
    listed = notes.get("failure_records")
    items = [notes] + (listed if isinstance(listed, list) else [])
    return [table for item in items if (table := failure_table(item)) is not None]


def legacy_failure_texts(notes: Any) -> list[str]:
    """The failure text of an event stored before the records (shown as it is), else []."""
    if not isinstance(notes, dict) or "rejections" in notes or "failure_records" in notes:
        return []
    texts = []
    if isinstance(notes.get("notes"), str):
        texts.append(notes["notes"])
    for failure in notes.get("failures") or []:
        if isinstance(failure, str):
            texts.append(failure)
    return texts


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
