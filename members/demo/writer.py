"""Writing rows fast: COPY on PostgreSQL, executemany INSERT elsewhere.

Rows are plain tuples in the order of the fields given, with Python values (aware datetimes,
dates, money as "199.90" strings, JSON as text). No model instances: building a million of
them costs more than writing the rows.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Model
from psycopg.types.json import Jsonb

# PostgreSQL type names of Django column types, for binary COPY.
_PG_TYPES = {
    "bigint": "int8",
    "bigserial": "int8",
    "integer": "int4",
    "serial": "int4",
    "smallint": "int2",
    "varchar": "text",
    "text": "text",
    "numeric": "numeric",
    "timestamp with time zone": "timestamptz",
    "date": "date",
    "boolean": "bool",
    "jsonb": "jsonb",
}


def _same(text: str) -> str:
    return text


class BulkWriter:
    """Appends rows to one table; ``write`` may be called many times (one COPY per call).

    On PostgreSQL the COPY is binary (about 2.5x the rows/s of text COPY from Python), typed
    from the model fields: money must come as Decimal, JSON as already serialised text.
    """

    def __init__(self, model: type[Model], fields: list[str]):
        model_fields = [model._meta.get_field(name) for name in fields]
        self.table = connection.ops.quote_name(model._meta.db_table)
        self.columns = [f.column for f in model_fields]
        quoted = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        self.postgres = connection.vendor == "postgresql"
        if self.postgres:
            self.sql = f"COPY {self.table} ({quoted}) FROM STDIN (FORMAT BINARY)"
            self.types = [
                _PG_TYPES[f.db_type(connection).split("(")[0].strip()] for f in model_fields
            ]
            self.json_columns = [i for i, t in enumerate(self.types) if t == "jsonb"]
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            self.sql = f"INSERT INTO {self.table} ({quoted}) VALUES ({marks})"  # noqa: S608
        self.count = 0

    def write(self, rows: list) -> None:
        if not rows:
            return
        count = len(rows)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(self.sql) as copy:
                    copy.set_types(self.types)
                    if self.json_columns:
                        rows = map(self._wrap_json, rows)
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, [tuple(map(_adapt, row)) for row in rows])
        self.count += count

    def _wrap_json(self, row):
        row = list(row)
        for index in self.json_columns:
            if row[index] is not None:
                row[index] = Jsonb(row[index], dumps=_same)
        return row


def _adapt(value):
    """Values as Django's SQLite backend stores them (datetimes naive in UTC, as text)."""
    if isinstance(value, datetime):
        return str(value.astimezone(UTC).replace(tzinfo=None))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def sequences_reset(*models: type[Model]) -> None:
    """Move id sequences past ids written explicitly (PostgreSQL; SQLite tracks them itself)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextmanager
def bulk_load(*models: type[Model]):
    """On PostgreSQL, drop the secondary indexes, unique and foreign-key constraints of the
    tables for the duration of a bulk load, put them back after and ANALYZE the tables (all
    inside the caller's transaction: a failure restores them with everything else).

    Building an index once over sorted data is far cheaper than updating forty indexes row by
    row, and re-adding a foreign key checks all rows in one join instead of one deferred
    trigger per row at commit. Re-adding the constraints validates the loaded rows, so nothing
    unchecked gets in. The tables are locked (ACCESS EXCLUSIVE) until commit.
    """
    if connection.vendor != "postgresql":
        yield
        return
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        # Rows written earlier in this transaction (stores, guides, tags) leave deferred
        # foreign-key checks pending, and PostgreSQL refuses ALTER TABLE on their tables until
        # they have run: run them now, then go back to Django's deferred constraints.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid = ANY(%s::regclass[]) "
            "ORDER BY contype DESC",  # unique ones first: drop them before FKs, add after
            [tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _kind, _definition in reversed(constraints):
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for _name, definition in indexes:
            cursor.execute(definition)
        for table, name, _kind, definition in constraints:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        # Fresh tables have no statistics until autovacuum comes by; without them the planner
        # picks sequential scans for the first queries (e.g. an import's order lookups).
        cursor.execute("ANALYZE " + ", ".join(f'"{table}"' for table in tables))
