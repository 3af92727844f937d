"""Predictions for every member from a summary (numpy), and their set-based write.

Purchase-model predictions depend only on a member's (x, t_x, T), and members share these
patterns a lot (a million members have about a quarter of a million): they are computed once
per pattern. The spend model and the margin are per member.

The write: the arrays go into a temp table (binary COPY on PostgreSQL), then one
``INSERT ... SELECT ... ON CONFLICT (member_id) DO UPDATE`` joins them with the referral index
and computes the value score, and two DELETEs drop the rows of members who are no longer
active or no longer have a paid order (all refunded). Members who never bought get no row:
there is nothing to predict (a fifth of the bench's million members, whose rows would cost a
fifth of the write).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection

from members.choices import MemberStatus
from members.models import Member, MemberValue
from members.value.columns import write_columns
from members.value.predict import PurchaseModel, SpendModel, discounted_purchases
from members.value.referral import NEUTRAL_INDEX, referral_index_sql
from members.value.summary import Summary

PREDICTIONS_TABLE = "member_value_predictions"
HORIZONS = (30, 90, 365)
# CLV sums the expected purchases in 30-day steps, each discounted from its end (lifetimes'
# customer_lifetime_value does the same); the discount rate is per year of 365 days.
CLV_STEP_DAYS = 30
YEAR_DAYS = 365
# A next purchase expected more than ten years after the last one is no date worth storing.
MAX_GAP_DAYS = 3650
# Money values are stored in DECIMAL(14, 2) (expected order value) and DECIMAL(16, 2) (CLV,
# value score): clip absurd predictions well inside the smaller column instead of letting one
# member's overflow abort the whole night's scoring.
MAX_MONEY = 1e11
COLUMNS = (
    "member_id",
    "p_alive",
    "expected_30",
    "expected_90",
    "expected_365",
    "order_value",
    "clv",
    "next_day",
    "margin",
)


@dataclass(frozen=True)
class Predictions:
    columns: dict[str, np.ndarray]
    # Members whose prediction came out non-finite (stored as NULL, never NaN).
    not_finite: int

    def __len__(self) -> int:
        return int(self.columns["member_id"].size)


def predictions_compute(
    purchase_model: PurchaseModel,
    spend_model: SpendModel,
    summary: Summary,
    *,
    today_day: int,
    clv_horizon_days: int,
    discount_rate: float,
) -> Predictions:
    """Every prediction for the members of ``summary`` as of ``today_day`` (their T)."""
    x, t_x, age = summary.x, summary.t_x, summary.age(today_day)
    # One row per distinct (x, t_x, T): whole days, so they pack into one int64 key.
    keys = (x.astype(np.int64) << 42) | (t_x.astype(np.int64) << 21) | age.astype(np.int64)
    _keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    px, pt_x, page = x[first], t_x[first], age[first]
    with np.errstate(all="ignore"):
        cache: dict[float, np.ndarray] = {}
        discounted = discounted_purchases(
            purchase_model,
            px,
            pt_x,
            page,
            horizon=float(clv_horizon_days),
            step=float(CLV_STEP_DAYS),
            discount_rate=discount_rate,
            discount_period=float(YEAR_DAYS),
            expected_at=cache,
        )
        expected = {}
        for h in HORIZONS:
            if float(h) not in cache:
                cache[float(h)] = purchase_model.expected(float(h), px, pt_x, page)
            expected[h] = cache[float(h)]
        p_alive = purchase_model.p_alive(px, pt_x, page)
        gap = purchase_model.purchase_gap(px, pt_x)[inverse]
        order_value = spend_model.expected_value(x, summary.repeat_mean, summary.overall_mean)
        clv = np.clip(discounted[inverse] * order_value, -MAX_MONEY, MAX_MONEY)
        order_value = np.clip(order_value, -MAX_MONEY, MAX_MONEY)
        next_day = np.where(
            np.isfinite(gap) & (gap >= 0) & (gap <= MAX_GAP_DAYS),
            summary.last_day + np.round(np.nan_to_num(gap, nan=0.0)),
            np.nan,
        )
    columns = {
        "member_id": summary.member_id,
        "p_alive": np.clip(p_alive[inverse], 0.0, 1.0),
        "expected_30": expected[30][inverse],
        "expected_90": expected[90][inverse],
        "expected_365": expected[365][inverse],
        "order_value": order_value,
        "clv": clv,
        "next_day": next_day,
        "margin": np.clip(summary.margin_per_purchase, -MAX_MONEY, MAX_MONEY),
    }
    # A prediction is all or nothing: a member with any non-finite model value gets NULLs
    # (the gap alone may be missing: no date beyond MAX_GAP_DAYS).
    model_values = ("p_alive", "expected_30", "expected_90", "expected_365", "order_value", "clv")
    bad = np.zeros(summary.member_id.shape, dtype=bool)
    for name in model_values:
        bad |= ~np.isfinite(columns[name])
    if bad.any():
        for name in (*model_values, "next_day"):
            columns[name] = np.where(bad, np.nan, columns[name])
    return Predictions(columns=columns, not_finite=int(bad.sum()))


def predictions_write(cursor, predictions: Predictions, *, scored_at: datetime) -> dict:
    """Write the MemberValue rows of the active members in ``predictions`` and delete every
    other row. Returns ``written``, ``removed`` and ``timings`` of the steps."""
    postgres = connection.vendor == "postgresql"
    timings, mark = {}, time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        timings[name] = round(time.monotonic() - mark, 3)
        mark = time.monotonic()

    cursor.execute(f"DROP TABLE IF EXISTS {PREDICTIONS_TABLE}")
    real = "DOUBLE PRECISION" if postgres else "REAL"
    # No primary key: it is read whole (and hashed once below), and building an index while
    # loading 800k rows would only slow the load down.
    cursor.execute(
        f"CREATE TEMP TABLE {PREDICTIONS_TABLE} (member_id BIGINT NOT NULL, "
        + ", ".join(f"{name} {real}" for name in COLUMNS[1:])
        + ")"
    )
    write_columns(cursor, PREDICTIONS_TABLE, predictions.columns, kinds="i" + "f" * 8)
    lap("load")
    sql, params = _upsert_sql(postgres=postgres, scored_at=scored_at)
    cursor.execute(sql, params)
    written = cursor.rowcount
    lap("upsert")
    value_table, member_table = _table(MemberValue), _table(Member)
    # Merged and erased members have (almost) no orders left: rather than joining a million
    # members into the upsert to leave them out, their few rows are deleted afterwards.
    cursor.execute(
        f"DELETE FROM {value_table} WHERE member_id IN"
        f" (SELECT id FROM {member_table} WHERE status <> %s)",
        [MemberStatus.ACTIVE],
    )
    inactive = cursor.rowcount
    written -= inactive
    cursor.execute(
        f"DELETE FROM {value_table} WHERE NOT EXISTS"
        f" (SELECT 1 FROM {PREDICTIONS_TABLE} p WHERE p.member_id = {value_table}.member_id)"
    )
    removed = inactive + cursor.rowcount
    cursor.execute(f"DROP TABLE {PREDICTIONS_TABLE}")
    lap("delete")
    return {"written": written, "removed": removed, "timings": timings}


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _upsert_sql(*, postgres: bool, scored_at: datetime) -> tuple[str, list]:
    def value(column: str) -> str:
        # NaN (PostgreSQL keeps it in a double) means "no value": NULL.
        return f"NULLIF(p.{column}, 'NaN'::float8)" if postgres else f"p.{column}"

    def money(expression: str) -> str:
        return f"ROUND(CAST({expression} AS NUMERIC), 2)" if postgres else f"ROUND({expression}, 2)"

    next_day = value("next_day")
    next_date = (
        f"DATE '1970-01-01' + CAST({next_day} AS INTEGER)"
        if postgres
        else f"date(CAST({next_day} AS INTEGER) * 86400, 'unixepoch')"
    )
    referral = referral_index_sql()
    if referral is None:
        index_sql, join, referral_params = f"{NEUTRAL_INDEX}", "", []
    else:
        index_sql = f"COALESCE(ri.referral_index, {NEUTRAL_INDEX})"
        join = f"LEFT JOIN ({referral[0]}) ri ON ri.member_id = p.member_id"
        referral_params = list(referral[1])
    # The score multiplies three stored values (the referral index comes from another app):
    # bounded here too, so its product fits DECIMAL(16, 2).
    # (CASE rather than LEAST/GREATEST, which turn a missing value into the bound on PostgreSQL.)
    product = f"({value('expected_365')} * {value('margin')} * {index_sql})"
    bound = f"{MAX_MONEY:.0f}"
    value_score = money(
        f"CASE WHEN {product} > {bound} THEN {bound} WHEN {product} < -{bound} THEN -{bound}"
        f" ELSE {product} END"
    )
    columns = {
        "p_alive": value("p_alive"),
        "expected_purchases_30": value("expected_30"),
        "expected_purchases_90": value("expected_90"),
        "expected_purchases_365": value("expected_365"),
        "expected_order_value": money(value("order_value")),
        "clv": money(value("clv")),
        "next_purchase_on": next_date,
        "value_score": value_score,
        "referral_index": index_sql,
    }
    updates = ", ".join(f"{name} = excluded.{name}" for name in (*columns, "scored_at"))
    table = _table(MemberValue)
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join's ON clause.
    sql = f"""
        INSERT INTO {table} (member_id, {", ".join(columns)}, scored_at)
        SELECT p.member_id, {", ".join(columns.values())}, %s
        FROM {PREDICTIONS_TABLE} p
        {join}
        WHERE 1 = 1
        ON CONFLICT (member_id) DO UPDATE SET {updates}
    """
    return sql, [connection.ops.adapt_datetimefield_value(scored_at), *referral_params]
