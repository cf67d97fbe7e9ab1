"""Keyset pages and estimated counts, for tables that grow without bound (the event log).

OFFSET reads and throws away every row before the page, and COUNT(*) reads
them all: page 10,000 of a million events took seconds. A keyset page instead
starts at a cursor, the (time, id) of the last row seen, and reads one
index range of the (time, id) index, however deep it is. The total is shown
as an estimate: PostgreSQL's planner statistics for a whole table, a count
capped at COUNT_CAP rows for a filtered one ("more than 10,000").
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

COUNT_CAP = 10_000  # rows a filtered count reads at most


class CursorError(ValueError):
    """A cursor that is not one we made; the message names it."""


@dataclass(frozen=True)
class Count:
    value: int
    kind: str  # "exact", "estimate" (planner statistics) or "at_least" (the cap was reached)

    def __str__(self) -> str:
        if self.kind == "exact":
            return f"{self.value:,}"
        return f"about {self.value:,}" if self.kind == "estimate" else f"more than {self.value:,}"


def estimated_count(queryset: QuerySet, cap: int = COUNT_CAP) -> Count:
    """The number of rows, without reading more than ``cap`` of them."""
    if not queryset.query.where and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
            row = cursor.fetchone()
        # -1 (never analysed) or a small table: counting is cheap and exact.
        if row and row[0] > cap:
            return Count(int(row[0]), "estimate")
    found = queryset.order_by()[: cap + 1].count()
    return Count(cap, "at_least") if found > cap else Count(found, "exact")


def encode_cursor(time: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{time.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(raw: str, name: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        stamp, pk = text.split("|")
        time = datetime.fromisoformat(stamp)
        if time.tzinfo is None:
            raise ValueError("naive")
        return time, int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise CursorError(f"{name}: '{raw[:40]}' is not a cursor of this list; follow the page's own links") from exc


@dataclass
class KeysetPage:
    """One page, newest first, and the cursors of its neighbours (None: nothing there)."""

    object_list: list
    next_cursor: str | None  # older rows
    previous_cursor: str | None  # newer rows
    count: Count

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def __getitem__(self, index):
        return self.object_list[index]

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None


def keyset_page(
    queryset: QuerySet, size: int, *, before: tuple[datetime, int] | None = None,
    after: tuple[datetime, int] | None = None, count: Count | None = None,
) -> KeysetPage:
    """``size`` rows ordered by (time, id) descending: older than ``before``, or the newest newer than ``after``.

    ``time <= t AND (time < t OR id < pk)``: the first term bounds the index
    range, so the scan starts at the cursor (a plain OR would walk from the top).
    """
    if after is not None:
        time, pk = after
        rows = list(queryset.filter(Q(time__gte=time) & (Q(time__gt=time) | Q(pk__gt=pk)))
                    .order_by("time", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        previous = encode_cursor(rows[0].time, rows[0].pk) if rows and more_newer else None
        following = encode_cursor(rows[-1].time, rows[-1].pk) if rows else encode_cursor(time, pk)
        return KeysetPage(rows, following, previous, count or estimated_count(queryset))
    ordered = queryset.order_by("-time", "-id")
    if before is not None:
        time, pk = before
        ordered = ordered.filter(Q(time__lte=time) & (Q(time__lt=time) | Q(pk__lt=pk)))
    rows = list(ordered[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    following = encode_cursor(rows[-1].time, rows[-1].pk) if more_older else None
    previous = None
    if before is not None:
        # Newer rows exist: at least the one the cursor names. Pointing at our first row shows them.
        previous = encode_cursor(rows[0].time, rows[0].pk) if rows else encode_cursor(*before)
    return KeysetPage(rows, following, previous, count or estimated_count(queryset))
