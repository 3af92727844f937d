"""Member metrics: RFM quintile scores and lifecycle stages for every active member, recomputed
in a few set-based statements that run on SQLite and PostgreSQL (rules: docs/metrics.md).

One refresh, in one transaction:
  1. one ``CREATE TEMP TABLE ... AS SELECT``: aggregate paid orders per member, score them with
     window functions, pick the stage, and keep only the members whose values differ from their
     stored row (or who have none yet), with their previous stage;
  2. ``INSERT ... SELECT`` a ``member.lifecycle_changed`` event for each changed stage;
  3. ``INSERT ... ON CONFLICT DO UPDATE`` those rows (unchanged members are not touched);
  4. delete the rows of members who are no longer active (merged, erased).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from datetime import time as dt_time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from members.choices import MemberStatus, OrderStatus
from members.events import EventKind, event_handlers, events_dispatch_on_commit
from members.models import Event, LifecycleStage, Member, MemberMetrics, Order

logger = logging.getLogger(__name__)

DEFAULT_RFM_WINDOW_DAYS = 365
# Days are local calendar days (TIME_ZONE); "within N days" means 0 to N-1 days ago.
DEFAULT_LIFECYCLE = {
    "new_days": 30,  # first purchase within this many days: new
    "won_back_days": 30,  # a comeback purchase within this many days: won_back
    "at_risk_after": 90,  # days since the last purchase from which a buyer is at_risk ...
    "dormant_after": 180,  # ... dormant (and a purchase after such a gap is a comeback) ...
    "churned_after": 365,  # ... churned
}
# Serialises refreshes on PostgreSQL (beat and a manual run at once would both write events).
ADVISORY_LOCK_KEY = 0x5C12_0001
# For the per-member aggregate and the rank sorts: with 1M members and 2M orders, 64MB is as fast
# as 256MB (which keeps the whole aggregate in memory) and ~20% faster than the 4MB default.
POSTGRES_WORK_MEM = "64MB"
TEMP_TABLE = "member_metrics_calc"
# Columns compared to decide whether a member's row changed (rfm and the stage dates follow).
COMPARED = ("last_purchase_at", "frequency", "monetary", "r_score", "f_score", "m_score", "stage")


def lifecycle_settings() -> dict[str, int]:
    """settings.SCRM_LIFECYCLE over the defaults, checked for a consistent order."""
    rules = {**DEFAULT_LIFECYCLE, **getattr(settings, "SCRM_LIFECYCLE", {})}
    unknown = set(rules) - set(DEFAULT_LIFECYCLE)
    if unknown:
        raise ImproperlyConfigured(f"SCRM_LIFECYCLE: unknown keys {sorted(unknown)}")
    if not all(isinstance(v, int) and v >= 1 for v in rules.values()):
        raise ImproperlyConfigured("SCRM_LIFECYCLE: every value is a whole number of days >= 1")
    if not rules["at_risk_after"] < rules["dormant_after"] < rules["churned_after"]:
        raise ImproperlyConfigured("SCRM_LIFECYCLE: at_risk_after < dormant_after < churned_after")
    if rules["won_back_days"] > rules["dormant_after"]:
        raise ImproperlyConfigured("SCRM_LIFECYCLE: won_back_days must not exceed dormant_after")
    return rules


def rfm_window_days() -> int:
    """settings.SCRM_RFM_WINDOW_DAYS: the days of paid orders that frequency and monetary count."""
    days = getattr(settings, "SCRM_RFM_WINDOW_DAYS", DEFAULT_RFM_WINDOW_DAYS)
    if not isinstance(days, int) or days < 1:
        raise ImproperlyConfigured("SCRM_RFM_WINDOW_DAYS must be a whole number of days >= 1")
    return days


def member_metrics_refresh(*, now: datetime | None = None) -> dict:
    """Recompute RFM scores and lifecycle stages of all active members as of ``now`` (default:
    the current time), write the rows that changed, and record a ``member.lifecycle_changed``
    event for every member whose stored stage changed. Returns counts: ``members`` (rows after
    the refresh), ``scored`` (with RFM scores), ``written``, ``removed``, ``stages`` (members
    per stage), ``stage_changes`` (changes per new stage), ``events`` and ``seconds``."""
    started = time.monotonic()
    now = now or timezone.now()
    if timezone.is_naive(now):
        now = timezone.make_aware(now)
    postgres = connection.vendor == "postgresql"
    params = _params(now, postgres=postgres)
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            cursor.execute(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")
        cursor.execute(_calc_sql(postgres), params)
        cursor.execute(
            f"SELECT stage, COUNT(*) FROM {TEMP_TABLE}"
            " WHERE old_stage IS NOT NULL AND old_stage <> stage GROUP BY stage"
        )
        changes = dict(cursor.fetchall())
        events = (
            _record_stage_events(cursor, now=params["now"], postgres=postgres) if changes else 0
        )
        cursor.execute(f"SELECT COUNT(*) FROM {TEMP_TABLE}")
        written = cursor.fetchone()[0]
        if written:
            cursor.execute(_upsert_sql(), {"now": params["now"]})
        cursor.execute(f"DROP TABLE {TEMP_TABLE}")
        cursor.execute(
            f"DELETE FROM {_table(MemberMetrics)} WHERE member_id IN"
            f" (SELECT id FROM {_table(Member)} WHERE status <> %s)",
            [MemberStatus.ACTIVE],
        )
        removed = cursor.rowcount
        cursor.execute(
            f"SELECT stage, COUNT(*), COUNT(r_score) FROM {_table(MemberMetrics)} GROUP BY stage"
        )
        totals = cursor.fetchall()
    result = {
        "members": sum(n for _stage, n, _scored in totals),
        "scored": sum(scored for _stage, _n, scored in totals),
        "written": written,
        "removed": removed,
        "stages": {stage: n for stage, n, _scored in sorted(totals)},
        "stage_changes": dict(sorted(changes.items())),
        "events": events,
        "seconds": round(time.monotonic() - started, 3),
    }
    logger.info(
        "member metrics: %(members)d members, %(scored)d scored, %(written)d written, "
        "%(removed)d removed, stage changes %(stage_changes)s, %(seconds).1f s",
        result,
    )
    return result


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _params(now: datetime, *, postgres: bool) -> dict:
    """The SQL's parameters: mostly the instants it compares purchase times with, from local
    calendar days."""
    rules, window_days = lifecycle_settings(), rfm_window_days()
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()

    def within(days: int):
        # The first instant of the day ``days - 1`` days before today: "within ``days`` days".
        start = datetime.combine(today - timedelta(days=days - 1), dt_time.min)
        return connection.ops.adapt_datetimefield_value(timezone.make_aware(start, tz))

    return {
        "now": connection.ops.adapt_datetimefield_value(now),
        "paid": OrderStatus.PAID,
        "active_member": MemberStatus.ACTIVE,
        "window_start": within(window_days),
        "new_start": within(rules["new_days"]),
        "won_back_start": within(rules["won_back_days"]),
        "active_start": within(rules["at_risk_after"]),
        "at_risk_start": within(rules["dormant_after"]),
        "dormant_start": within(rules["churned_after"]),
        # The comeback gap: an interval on PostgreSQL, days for SQLite's julianday().
        "gap": timedelta(days=rules["dormant_after"]) if postgres else rules["dormant_after"],
        **{f"stage_{s.name.lower()}": s.value for s in LifecycleStage},
    }


def _score(column: str) -> str:
    """Quintile 1-5 by rank among members who bought in the window, ties sharing a score."""
    part = "PARTITION BY a.frequency > 0"
    return (
        f"CASE WHEN a.frequency > 0 THEN 1 + 5 * (RANK() OVER ({part} ORDER BY a.{column}) - 1)"
        f" / COUNT(*) OVER ({part}) END"
    )


def _calc_sql(postgres: bool) -> str:
    # A comeback: the first purchase of the won-back window came at least ``dormant_after``
    # days (elapsed) after the purchase before it.
    gap = (
        "a.before_at <= a.comeback_at - %(gap)s"
        if postgres
        else "julianday(a.comeback_at) - julianday(a.before_at) >= %(gap)s"
    )
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    changed = " OR ".join(f"old.{col} {distinct} c.{col}" for col in COMPARED)
    return f"""
        CREATE TEMP TABLE {TEMP_TABLE} AS
        WITH agg AS (
            SELECT o.member_id,
                   MIN(o.paid_at) AS first_at,
                   MAX(o.paid_at) AS last_at,
                   SUM(CASE WHEN o.paid_at >= %(window_start)s THEN 1 ELSE 0 END) AS frequency,
                   ROUND(SUM(CASE WHEN o.paid_at >= %(window_start)s THEN o.paid_amount
                                  ELSE 0 END), 2) AS monetary,
                   MIN(CASE WHEN o.paid_at >= %(won_back_start)s THEN o.paid_at END)
                       AS comeback_at,
                   MAX(CASE WHEN o.paid_at < %(won_back_start)s THEN o.paid_at END) AS before_at
            FROM {_table(Order)} o
            WHERE o.status = %(paid)s AND o.member_id IS NOT NULL AND o.paid_at <= %(now)s
            GROUP BY o.member_id
        ),
        scored AS (
            SELECT a.*, {_score("last_at")} AS r_score, {_score("frequency")} AS f_score,
                   {_score("monetary")} AS m_score
            FROM agg a
        ),
        calc AS (
            SELECT m.id AS member_id,
                   a.last_at AS last_purchase_at,
                   COALESCE(a.frequency, 0) AS frequency,
                   COALESCE(a.monetary, 0) AS monetary,
                   a.r_score, a.f_score, a.m_score,
                   CASE
                       WHEN a.last_at IS NULL THEN %(stage_prospect)s
                       WHEN a.first_at >= %(new_start)s THEN %(stage_new)s
                       WHEN a.comeback_at IS NOT NULL AND a.before_at IS NOT NULL AND {gap}
                           THEN %(stage_won_back)s
                       WHEN a.last_at >= %(active_start)s THEN %(stage_active)s
                       WHEN a.last_at >= %(at_risk_start)s THEN %(stage_at_risk)s
                       WHEN a.last_at >= %(dormant_start)s THEN %(stage_dormant)s
                       ELSE %(stage_churned)s
                   END AS stage
            FROM {_table(Member)} m
            LEFT JOIN scored a ON a.member_id = m.id
            WHERE m.status = %(active_member)s
        )
        SELECT c.*, c.r_score * 100 + c.f_score * 10 + c.m_score AS rfm, old.stage AS old_stage
        FROM calc c
        LEFT JOIN {_table(MemberMetrics)} old ON old.member_id = c.member_id
        WHERE old.member_id IS NULL OR {changed}
    """


def _record_stage_events(cursor, *, now, postgres: bool) -> int:
    """Insert one event per changed stage (members with a previous row only); kinds that a
    handler listens to are handed to Celery after commit, as members.events does."""
    kind = EventKind.LIFECYCLE_CHANGED
    listened = bool(event_handlers(kind))
    data = (
        "jsonb_build_object('from', old_stage, 'to', stage)"
        if postgres
        else "json_object('from', old_stage, 'to', stage)"
    )
    returning = listened and connection.features.can_return_rows_from_bulk_insert
    cursor.execute(
        f"INSERT INTO {_table(Event)} (member_id, kind, data, occurred_at, dispatched_at)"
        f" SELECT member_id, %(kind)s, {data}, %(now)s, %(dispatched)s FROM {TEMP_TABLE}"
        " WHERE old_stage IS NOT NULL AND old_stage <> stage"
        + (" RETURNING id" if returning else ""),
        {"kind": kind, "now": now, "dispatched": None if listened else now},
    )
    if not returning:  # without RETURNING, the periodic sweep dispatches listened events
        return cursor.rowcount
    ids = [row[0] for row in cursor.fetchall()]
    events_dispatch_on_commit(event_ids=ids)
    return len(ids)


def _upsert_sql() -> str:
    table = _table(MemberMetrics)
    columns = (*COMPARED, "rfm")
    updates = ", ".join(f"{col} = excluded.{col}" for col in columns)
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join's ON clause.
    return f"""
        INSERT INTO {table} (member_id, {", ".join(columns)}, stage_changed_at, computed_at)
        SELECT member_id, {", ".join(columns)}, NULL, %(now)s FROM {TEMP_TABLE} WHERE 1 = 1
        ON CONFLICT (member_id) DO UPDATE SET {updates},
            stage_changed_at = CASE WHEN {table}.stage <> excluded.stage
                                    THEN excluded.computed_at
                                    ELSE {table}.stage_changed_at END,
            computed_at = excluded.computed_at
    """
