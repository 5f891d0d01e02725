"""Bulk writes for ``wraparound app refresh``: many rows in one statement stream, and only the
rows that changed.

The ORM's ``bulk_create`` builds a model instance and prepares every value of every row in
Python, which is most of a large refresh's time. :func:`upsert` instead takes plain tuples
(already in the column's Python type) and hands them to the database driver in one stream:

- **SQLite**: ``executemany`` of ``INSERT ... ON CONFLICT (key) DO UPDATE SET ... WHERE``
  the stored row differs (``IS NOT``, which treats nulls as values);
- **PostgreSQL**: ``COPY`` (psycopg 3 ``cursor.copy``) into a temporary table, then one
  ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE (stored) IS DISTINCT FROM
  (new)``.

Either way an unchanged row is compared and skipped, never written, and the count returned
is the rows inserted or changed. Values go to the driver as the ORM would send them: a
``JSONField`` as ``json.dumps`` text, a timestamp in UTC (naive on SQLite, which stores the
text the ORM stores), so a row written here and one written by the ORM compare equal.
On SQLite, a load into an empty table (a first ``app refresh``) builds the table's
secondary indexes once the rows are in, rather than row by row (``_indexes_after``).
:func:`delete_missing` removes the rows whose key is not among the given keys (a full load's
leftovers) through a temporary table of keys, whatever their number.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import polars as pl
from django.db import connection, models, transaction

CHUNK = 10_000
"""Rows per ``executemany`` call (SQLite) or per COPY write batch (PostgreSQL)."""


def _columns(model, fields: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in fields]


def _converter(field: models.Field, vendor: str):
    """A function making a Python value into what the driver should receive, or None."""
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(field, models.DateTimeField) and vendor == "sqlite":
        utc = dt.UTC

        def naive(v):
            if v is None or v.tzinfo is None:
                return v
            return v.astimezone(utc).replace(tzinfo=None)

        return naive
    return None


def _sqlite_text(column: str, kind: pl.DataType) -> pl.Expr:
    """The text SQLite holds for a datetime or date column, as the ORM writes it
    (``str(value)``, in UTC, naive): ``2024-05-01 10:00:00``, with ``.ffffff`` only when the
    microseconds are not zero. Made in polars for a whole column, not value by value."""
    c = pl.col(column)
    if isinstance(kind, pl.Date):
        return c.dt.strftime("%Y-%m-%d")
    if kind.time_zone is not None:
        c = c.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return (
        pl.when(c.dt.microsecond() == 0)
        .then(c.dt.strftime("%Y-%m-%d %H:%M:%S"))
        .otherwise(c.dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))
    )


def _frame_rows(frame: pl.DataFrame, cols: list[models.Field], vendor: str) -> Iterable[tuple]:
    """A frame's rows (columns named as the fields, in any order) as the driver should
    receive them. On SQLite, datetime and date columns become the ORM's text in polars
    first: a first load's expected letters spent a fifth of their time turning each
    timestamp into naive UTC and then into text in Python, value by value."""
    frame = frame.select([c.name for c in cols])
    temporal = {n for n, kind in frame.schema.items() if isinstance(kind, pl.Date | pl.Datetime)}
    converters = [_converter(c, vendor) for c in cols]
    if vendor == "sqlite":
        frame = frame.with_columns(_sqlite_text(n, frame.schema[n]).alias(n) for n in temporal)
        converters = [
            None if c.name in temporal else f for c, f in zip(cols, converters, strict=True)
        ]
    return _prepared(frame.iter_rows(), converters)


def _prepared(rows: Iterable[Sequence], converters) -> Iterable[tuple]:
    if not any(converters):
        yield from (tuple(r) for r in rows)
        return
    pairs = [(i, f) for i, f in enumerate(converters) if f is not None]
    for row in rows:
        row = list(row)
        for i, f in pairs:
            row[i] = f(row[i])
        yield tuple(row)


@contextmanager
def _indexes_after(cursor, table: str) -> Iterator[None]:
    """On SQLite, a load into an empty table builds its secondary indexes after the rows,
    not row by row: the expected letters of a 300k locality (492,661 rows, seven secondary
    indexes) went in about twice as fast (18.3 to 9.5 s, raw ``executemany``). Unique
    indexes stay, since ``ON CONFLICT`` needs them. It runs inside the upsert's transaction,
    so a failure rolls the indexes back with the rows; each index is made again from the very SQL
    that made it (``sqlite_master``)."""
    if connection.vendor != "sqlite":
        yield
        return
    cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
    if cursor.fetchone() is not None:
        yield
        return
    cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE %'",
        [table.strip('"')],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    for _, sql in indexes:
        cursor.execute(sql)


def _chunks(rows: Iterable[tuple], size: int = CHUNK) -> Iterable[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def upsert(
    model,
    fields: Sequence[str],
    rows: Iterable[Sequence] | pl.DataFrame,
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``fields`` order, or a polars frame with a column of each
    field's name; a foreign key by its ``<name>`` giving the id) into ``model``'s table; a
    row whose ``key`` exists already has its ``update`` fields (default: every non-key
    field) rewritten only when one of them differs. ``update=()`` leaves existing rows alone
    (insert-or-ignore). Returns the rows inserted or changed."""
    vendor = connection.vendor
    cols = _columns(model, fields)
    names = [c.column for c in cols]
    keys = [model._meta.get_field(k).column for k in key]
    if update is None:
        update = [f for f in fields if f not in key]
    changed = [model._meta.get_field(f).column for f in update]
    table = connection.ops.quote_name(model._meta.db_table)
    q = connection.ops.quote_name
    if isinstance(rows, pl.DataFrame):
        data = _frame_rows(rows, cols, vendor)
    else:
        data = _prepared(rows, [_converter(c, vendor) for c in cols])
    if changed:
        sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in changed)
        if vendor == "postgresql":
            differs = (
                f"({', '.join(f'{table}.{q(c)}' for c in changed)}) IS DISTINCT FROM "
                f"({', '.join(f'excluded.{q(c)}' for c in changed)})"
            )
        else:
            differs = " OR ".join(f"{table}.{q(c)} IS NOT excluded.{q(c)}" for c in changed)
        conflict = f"ON CONFLICT ({', '.join(map(q, keys))}) DO UPDATE SET {sets} WHERE {differs}"
    else:
        conflict = f"ON CONFLICT ({', '.join(map(q, keys))}) DO NOTHING"
    column_list = ", ".join(map(q, names))
    written = 0
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the driver's own cursor: no per-row ORM work
        if vendor == "postgresql":
            temp = q(f"_bulk_{model._meta.db_table}")
            cursor.execute(f"DROP TABLE IF EXISTS {temp}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {temp} AS SELECT {column_list} FROM {table} WITH NO DATA"
            )
            with cursor.copy(f"COPY {temp} ({column_list}) FROM STDIN") as copy:
                for chunk in _chunks(data):
                    for row in chunk:
                        copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {temp} {conflict}"
            )
            written = max(cursor.rowcount, 0)
            cursor.execute(f"DROP TABLE {temp}")
        else:
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO {table} ({column_list}) VALUES ({marks}) {conflict}"
            with transaction.atomic(), _indexes_after(cursor, table):
                for chunk in _chunks(data):
                    cursor.executemany(sql, chunk)
                    written += max(cursor.rowcount, 0)
    return written


def insert(model, fields: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples in ``fields`` order) into ``model``'s table, no conflict
    expected (a new run's rows): ``COPY`` straight into the table on PostgreSQL,
    ``executemany`` on SQLite. Returns the rows inserted."""
    vendor = connection.vendor
    cols = _columns(model, fields)
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    column_list = ", ".join(q(c.column) for c in cols)
    data = _prepared(rows, [_converter(c, vendor) for c in cols])
    n = 0
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        if vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
                    n += 1
        else:
            marks = ", ".join("?" for _ in cols)
            for chunk in _chunks(data):
                cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({marks})", chunk)
                n += len(chunk)
    return n


def delete_missing(model, key: str, keys: Iterable, where: str = "", params=()) -> int:
    """Delete ``model``'s rows whose ``key`` is not in ``keys`` (and that match the raw SQL
    condition ``where``, if given); returns how many. The keys travel through a temporary
    table, so their number is not bounded by the driver's parameter limit."""
    vendor = connection.vendor
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    column = q(model._meta.get_field(key).column)
    temp = q(f"_keep_{model._meta.db_table}")
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
        if cursor.fetchone() is None:  # a first load: nothing to delete, no keys to send
            return 0
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        if vendor == "postgresql":
            cursor.execute(f"CREATE TEMPORARY TABLE {temp} (k text PRIMARY KEY)")
            with cursor.copy(f"COPY {temp} (k) FROM STDIN") as copy:
                for k in set(keys):
                    copy.write_row((str(k),))
            cast = f"{column}::text"
        else:
            cursor.execute(f"CREATE TEMPORARY TABLE {temp} (k PRIMARY KEY)")
            for chunk in _chunks((k,) for k in set(keys)):
                cursor.executemany(f"INSERT INTO {temp} (k) VALUES (?)", chunk)
            cast = column
        extra = f" AND ({where})" if where else ""
        marker = "%s" if vendor == "postgresql" else "?"
        cursor.execute(
            f"DELETE FROM {table} WHERE {cast} NOT IN (SELECT k FROM {temp}){extra}".replace(
                "%s", marker
            ),
            list(params),
        )
        deleted = max(cursor.rowcount, 0)
        cursor.execute(f"DROP TABLE {temp}")
    return deleted
