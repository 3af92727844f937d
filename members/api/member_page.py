"""A page of the member list as one statement: which members, in which order, walked by which
index, then rendered (members.api.member_rows).

On PostgreSQL the statement is prepared (its text depends only on which conditions a query
has), so the planner does not see the values: it would pick one plan for every store and tier.
Which index the page walks is therefore chosen here, from the planner's own statistics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection

from members.api.member_rows import ROW_COLUMNS, MemberJSON, render_rows
from members.models import Member


@dataclass(frozen=True, slots=True)
class Equals:
    """A condition ``m.<column> = value`` of render_member_page. With ``code_table``,
    ``value`` is a code and the column must hold the id of that table's row with it, looked up
    inside the statement (a code created a moment ago is found at once)."""

    column: str
    value: object
    code_table: str | None = None


# Columns with an index on (column, id DESC). PostgreSQL's planner prefers walking the primary
# key backwards and filtering (cheap by its estimate, as ids follow the table's physical
# order): for one store and tier of a million members that read ~6,000 rows for a page of 50,
# the store's index ~400. The walk is asked for by ordering on (column, id) with the column's
# condition written as = ANY(...), which the planner cannot fold into a constant that would
# drop the column from the ordering. The results are the same whichever plan runs: the column
# has one value. Without statistics the first named of these is walked.
WALKED_COLUMNS = ("guide_id", "home_store_id", "tier_id")

# Statistics and code -> id maps are re-read after this many seconds. They only choose the
# index (a stale one costs time, never a wrong answer: codes are resolved by the statement).
_STATS_SECONDS = 300
_stats: dict[str, tuple[float, dict | None]] = {}
_codes: dict[str, tuple[float, dict[str, int]]] = {}


def _column_stats(column: str) -> dict | None:
    """{value: share of rows} for the column's most common values, and the share of any other
    value ("other"), from pg_stats as the planner estimates them; None before ANALYZE."""
    now = time.monotonic()
    cached = _stats.get(column)
    if cached and now - cached[0] < _STATS_SECONDS:
        return cached[1]
    table = Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.null_frac, s.n_distinct, s.most_common_vals::text::bigint[],"
            " s.most_common_freqs, c.reltuples FROM pg_stats s, pg_class c"
            " WHERE c.oid = to_regclass(%s) AND s.schemaname = current_schema()"
            " AND s.tablename = %s AND s.attname = %s",
            [table, table, column],
        )
        row = cursor.fetchone()
    stats = None
    if row is not None:
        null_frac, n_distinct, values, freqs, reltuples = row
        common = dict(zip(values or [], freqs or [], strict=True))
        distinct = n_distinct if n_distinct >= 0 else -n_distinct * max(reltuples, 0)
        others = distinct - len(common)
        rest = max(1.0 - null_frac - sum(common.values()), 0.0)
        stats = {"common": common, "other": rest / others if others >= 1 else 0.0}
    _stats[column] = (now, stats)
    return stats


def _code_id(table: str, code: str) -> int | None:
    """The id of ``table``'s row with ``code``, from a map of the (small) table re-read at
    most every few seconds on a miss."""
    now = time.monotonic()
    loaded, ids = _codes.get(table, (0.0, {}))
    if (code not in ids and now - loaded > 5) or now - loaded > _STATS_SECONDS:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT code, id FROM {table}")
            ids = dict(cursor.fetchall())
        _codes[table] = (now, ids)
    return ids.get(code)


def _share(condition: Equals) -> float | None:
    """The planner's estimate of the share of members meeting ``condition``."""
    stats = _column_stats(condition.column)
    if stats is None:
        return None
    value = condition.value
    if condition.code_table is not None:
        value = _code_id(condition.code_table, value)
        if value is None:
            return 0.0
    return stats["common"].get(value, stats["other"])


def _walked(where: list[Equals]) -> str | None:
    """The indexed column the page walks: of those the conditions name, the one the fewest
    members match (its index reads the fewest rows per row kept)."""
    named = [c for c in where if c.column in WALKED_COLUMNS]
    if not named:
        return None
    columns = {c.column for c in named}
    if len(columns) == 1:
        return named[0].column
    shares = {}
    for condition in named:
        share = _share(condition)
        if share is None:
            return next(column for column in WALKED_COLUMNS if column in columns)
        shares[condition.column] = min(share, shares.get(condition.column, 1.0))
    return min(shares, key=lambda column: (shares[column], WALKED_COLUMNS.index(column)))


def _condition(condition: Equals, *, walked: bool) -> tuple[str, object]:
    column = f"m.{condition.column}"
    if condition.code_table is None:
        if walked:
            return f"{column} = ANY(%s)", [condition.value]
        return f"{column} = %s", condition.value
    lookup = f"SELECT id FROM {condition.code_table} WHERE code = %s"
    if walked:
        return f"{column} = ANY(ARRAY({lookup}))", condition.value
    return f"{column} = ({lookup})", condition.value


def render_member_page(
    *,
    where: list[Equals],
    after: int | None,
    descending: bool,
    offset: int,
    limit: int | None,
    mask: bool,
    raw: bool = False,
) -> list[dict | MemberJSON]:
    """The members matching every condition of ``where``, found and rendered in one
    statement: up to ``limit`` members with an id beyond ``after`` (below it when
    ``descending``), in that order, after skipping ``offset`` (no limit: all of them, for a
    unique identity). With ``raw``, unmasked rows on PostgreSQL come as MemberJSON. This is
    the fetch of scrm.api.pagination's paginate_rows."""
    direction = "DESC" if descending else "ASC"
    walked = _walked(where) if connection.vendor == "postgresql" and limit else None
    conditions, params = [], []
    for condition in where:
        sql, param = _condition(condition, walked=condition.column == walked)
        conditions.append(sql)
        params.append(param)
    if after is not None:
        conditions.append("m.id < %s" if descending else "m.id > %s")
        params.append(after)
    columns = ", ".join(f"m.{name}" for name in ROW_COLUMNS)
    page = f"SELECT {columns} FROM {Member._meta.db_table} m"
    if conditions:
        page += f" WHERE {' AND '.join(conditions)}"
    if walked:
        # The index is (column, id DESC): newest first is the column ascending.
        page += f" ORDER BY m.{walked} {'ASC' if descending else 'DESC'}, m.id {direction}"
    else:
        page += f" ORDER BY m.id {direction}"
    # LIMIT and OFFSET are written into the statement: as parameters, PostgreSQL's generic
    # plan assumes a tenth of the table, and it replanned on every run instead (~0.7 ms).
    # Page sizes are few (at most 200; 50 unless asked), and so are the statements.
    if limit is not None:
        page += f" LIMIT {int(limit)}"
    if offset:
        page += f" OFFSET {int(offset)}"
    # The page's rows first, then the rendering: whatever plan finds them (a sort, say), only
    # the rows of the page are rendered.
    source = f"({page}) m ORDER BY m.id {direction}"
    return render_rows(source, params, mask=mask, raw=raw, prepare=True)
