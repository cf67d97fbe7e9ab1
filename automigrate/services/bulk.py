"""Bulk inserts of sample rows: COPY on PostgreSQL, bulk_create elsewhere.

Shared by ``/write`` (services.ingest) and the simulator's ticks, so both write
a round of samples the same, fastest, way.
"""

from __future__ import annotations

import io

from django.db import connection


def insert_rows(model, field_names: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in ``field_names`` order) into ``model``'s table.

    COPY is several times faster than INSERT on PostgreSQL; other databases get
    bulk_create. Values must be ints, fixed metric names, aware datetimes or
    finite floats: str() of each is valid PostgreSQL input and needs no escaping.
    """
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if hasattr(cursor.cursor, "copy_expert"):  # psycopg2
                _copy(cursor, model._meta.db_table, [f.column for f in fields], rows)
                return
    attnames = [f.attname for f in fields]
    model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=2000)


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO("".join("\t".join(map(str, row)) + "\n" for row in rows))
    quote = connection.ops.quote_name
    cursor.copy_expert(f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN", buffer)
