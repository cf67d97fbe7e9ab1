"""Bulk inserts of sample rows: COPY on PostgreSQL, bulk_create elsewhere.

Shared by ``/write`` (services.ingest) and the simulator's ticks, so both write
a round of samples the same, fastest, way.
"""

from __future__ import annotations

import io
import json

from django.db import connection, models


def insert_rows(model, field_names: tuple[str, ...], rows: list[tuple], json_fields: tuple[str, ...] = ()) -> None:
    """Insert ``rows`` (tuples in ``field_names`` order) into ``model``'s table.

    COPY is several times faster than INSERT on PostgreSQL; other databases get
    bulk_create. Values are ints, finite floats, aware datetimes, strings (escaped
    for COPY) or None (NULL); JSON columns take their text (``json.dumps``) here
    and the Python value elsewhere, so pass ``json_fields`` for them.
    """
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if hasattr(cursor.cursor, "copy_expert"):  # psycopg2
                copy_into(cursor, model._meta.db_table, fields, rows)
                return
    attnames = [f.attname for f in fields]
    if json_fields:
        positions = [field_names.index(name) for name in json_fields]
        rows = [tuple(json.loads(v) if i in positions else v for i, v in enumerate(row)) for row in rows]
    model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=2000)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


# Columns whose values str() writes as COPY text as they are (never NULL in our rows).
_PLAIN = (models.IntegerField, models.FloatField, models.DateTimeField, models.ForeignKey)


def copy_into(cursor, table: str, fields: list, rows: list[tuple]) -> None:
    """COPY ``rows`` (values of ``fields``, in order) into ``table`` (psycopg2)."""
    columns = [f.column for f in fields]
    convert = [str if isinstance(f, _PLAIN) and not f.null else _text for f in fields]
    if all(c is str for c in convert):
        lines = ("\t".join(map(str, row)) for row in rows)
    else:
        lines = ("\t".join([c(v) for c, v in zip(convert, row, strict=True)]) for row in rows)
    buffer = io.StringIO("\n".join(lines) + "\n")
    quote = connection.ops.quote_name
    cursor.copy_expert(f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN", buffer)
