"""Per-member purchase summaries for the value models, aggregated in SQL and read as arrays.

One SELECT aggregates paid orders in two GROUP BYs: per member and local day (TIME_ZONE),
then per member. A purchase is a day with paid orders, as in lifetimes'
summaries: orders split at the till, or a basket paid in two goes, are one purchase. From a
member's purchase days (day numbers since 1970-01-01, local):

    x       repeat purchases: purchase days - 1
    t_x     days from the first purchase to the last
    T       days from the first purchase to the day of the end (its local date)
    spend   total paid; the first day's spend separately (the spend model uses repeat ones)
    margin  total gross margin

The result is read straight into numpy arrays (members.value.columns.read_columns: no Python
object per value on PostgreSQL), without a temp table: writing 800k summaries to one and
reading them back cost twice the aggregate itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from django.db import connection
from django.utils import timezone

from members.choices import OrderStatus
from members.models import Order
from members.value.columns import read_columns

EPOCH = date(1970, 1, 1)
# The first day's spend rides along MIN(): day * 10^13 + the day's spend in cents, so the
# smallest value is the first day's and the remainder modulo 10^13 is its spend. Day numbers
# (~20,000) times 10^13 stay far inside a bigint; a day's spend stays below 10^11 yuan.
FIRST_DAY_SHIFT = 10_000_000_000_000


@dataclass(frozen=True)
class Summary:
    """Arrays over members with at least one paid order, ordered by member id."""

    member_id: np.ndarray
    x: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    spend: np.ndarray
    first_spend: np.ndarray
    margin: np.ndarray

    def __len__(self) -> int:
        return int(self.member_id.size)

    def take(self, index: np.ndarray) -> Summary:
        return Summary(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    @property
    def t_x(self) -> np.ndarray:
        return self.last_day - self.first_day

    def age(self, end_day: int) -> np.ndarray:
        """T: days from the first purchase to ``end_day``."""
        return end_day - self.first_day

    @property
    def purchases(self) -> np.ndarray:
        return self.x + 1

    @property
    def repeat_mean(self) -> np.ndarray:
        """Mean spend of the repeat purchases (0 without any)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.x > 0, (self.spend - self.first_spend) / self.x, 0.0)

    @property
    def overall_mean(self) -> np.ndarray:
        """Mean spend of all purchases, the first included."""
        return self.spend / self.purchases

    @property
    def margin_per_purchase(self) -> np.ndarray:
        return self.margin / self.purchases


def day_number(day: date) -> int:
    """A local calendar date as days since 1970-01-01."""
    return (day - EPOCH).days


def local_day_number(moment: datetime) -> int:
    """The day number of ``moment``'s date in TIME_ZONE."""
    return day_number(timezone.localdate(moment, timezone.get_default_timezone()))


def summary_read(cursor, *, end: datetime, first_since_day: int | None = None) -> Summary:
    """The summaries of members with paid orders before ``end``, ordered by member id; with
    ``first_since_day``, only members whose first purchase is on or after that day."""
    postgres = connection.vendor == "postgresql"
    day_sql, day_params = _local_day_sql("o.paid_at", postgres=postgres)
    real = "DOUBLE PRECISION" if postgres else "REAL"
    having, having_params = "", []
    if first_since_day is not None:
        having, having_params = "HAVING MIN(d.day) >= %s", [first_since_day]
    order_table = connection.ops.quote_name(Order._meta.db_table)
    # Money is summed in doubles: the arrays are doubles anyway, a day's few amounts add up
    # exactly to the cent, and double sums cost a fifth less than numeric ones over 2M rows.
    cents = "CAST(ROUND(d.spend * 100) AS BIGINT)"
    if postgres:
        # The inner GROUP BY has about one group per order (5M on the bench): PostgreSQL's
        # hash aggregate spills it to disk in batches, and sorting instead (in parallel when
        # the planner likes) takes half the time. For this statement only.
        cursor.execute("SET LOCAL enable_hashagg = off")
    columns = read_columns(
        cursor,
        f"""
        SELECT d.member_id,
               CAST(COUNT(*) - 1 AS BIGINT) AS x,
               CAST(MIN(d.day) AS BIGINT) AS first_day,
               CAST(MAX(d.day) AS BIGINT) AS last_day,
               SUM(d.spend) AS spend,
               CAST((MIN(d.day * {FIRST_DAY_SHIFT} + {cents}) %% {FIRST_DAY_SHIFT}) / 100.0
                    AS {real}) AS first_spend,
               SUM(d.margin) AS margin
        FROM (
            SELECT o.member_id, {day_sql} AS day,
                   SUM(CAST(o.paid_amount AS {real})) AS spend,
                   SUM(CAST(o.gross_margin AS {real})) AS margin
            FROM {order_table} o
            WHERE o.status = %s AND o.member_id IS NOT NULL AND o.paid_at < %s
            GROUP BY 1, 2
        ) d
        GROUP BY d.member_id
        {having}
        """,
        kinds="iiiifff",
        params=[
            *day_params,
            OrderStatus.PAID,
            connection.ops.adapt_datetimefield_value(end),
            *having_params,
        ],
    )
    if postgres:
        cursor.execute("SET LOCAL enable_hashagg TO DEFAULT")
    # Sorted here, not by an ORDER BY that would cost the database a sort of its own.
    order = np.argsort(columns[0], kind="stable")
    member_id, x, first_day, last_day, spend, first_spend, margin = (c[order] for c in columns)
    return Summary(
        member_id=member_id,
        x=x.astype(np.float64),
        first_day=first_day.astype(np.float64),
        last_day=last_day.astype(np.float64),
        spend=spend,
        first_spend=first_spend,
        margin=margin,
    )


def purchase_days_between(cursor, *, start: datetime, end: datetime) -> tuple[np.ndarray, ...]:
    """(member_id, purchase days) for paid orders in [start, end), ordered by member id: the
    holdout check's actual purchases after a calibration end."""
    postgres = connection.vendor == "postgresql"
    day_sql, day_params = _local_day_sql("o.paid_at", postgres=postgres)
    order_table = connection.ops.quote_name(Order._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    member_id, days = read_columns(
        cursor,
        f"SELECT o.member_id, CAST(COUNT(DISTINCT {day_sql}) AS BIGINT) FROM {order_table} o"
        " WHERE o.status = %s AND o.member_id IS NOT NULL AND o.paid_at >= %s"
        " AND o.paid_at < %s GROUP BY o.member_id ORDER BY o.member_id",
        kinds="ii",
        params=[*day_params, OrderStatus.PAID, adapt(start), adapt(end)],
    )
    order = np.argsort(member_id, kind="stable")
    return member_id[order], days[order]


def _local_day_sql(column: str, *, postgres: bool) -> tuple[str, tuple]:
    """SQL for the local (TIME_ZONE) calendar day of a timestamp column, as an integer day
    number, with its parameters (Django's own date cast, so both backends agree)."""
    tzname = timezone.get_default_timezone_name()
    date_sql, params = connection.ops.datetime_cast_date_sql(column, (), tzname)
    if postgres:
        return f"({date_sql} - DATE '1970-01-01')", tuple(params)
    return f"CAST(julianday({date_sql}) - 2440587.5 AS INTEGER)", tuple(params)
