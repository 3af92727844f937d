"""Claiming touchpoints: which rows are due, taking a batch of them for one worker, and
handing back what dead workers held (the dispatcher, campaigns.services.dispatch, sends them).

A claim stamps ``claimed_at`` (and counts the attempt) on due rows and leaves their state
"pending": it changes no indexed column, so on PostgreSQL it is a HOT update (the outbox keeps
room in its pages for it, migration 0006) that writes no index entry. A row is claimable while
it is due and unclaimed or its claim is older than SCRM_DISPATCH_CLAIM_TIMEOUT, so the claims
of a worker that died are taken again by the next scan that reaches them (the tick's sweep only
clears them). One statement claims a batch (FOR UPDATE SKIP LOCKED on PostgreSQL: two workers
never take the same row) and returns what sending needs of each row and its member.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import Touchpoint, TouchpointState
from members.models import Coupon, Member

DUE_STATES = (TouchpointState.PENDING, TouchpointState.DEFERRED)


def db_datetime(value: datetime):
    """A datetime as the database stores it, for raw SQL parameters (SQLite keeps UTC text;
    the ORM converts its own parameters, raw statements must do it here)."""
    return connection.ops.adapt_datetimefield_value(value)


def outbox_table() -> str:
    return Touchpoint._meta.db_table


def _claim_cutoff(now: datetime) -> datetime:
    """Claims made before this belong to a worker that died: the rows are claimable again."""
    return now - timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT)


def _claimable(now: datetime) -> Q:
    return Q(state__in=DUE_STATES, send_after__lte=now) & (
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=_claim_cutoff(now))
    )


def ids_match(column: str, ids) -> tuple[str, list]:
    """SQL matching ``column`` against ``ids``: one array parameter on PostgreSQL (the same
    statement text for any batch, passed as one literal: no per-element adaptation), an IN list
    elsewhere."""
    ids = list(ids)
    if not ids:
        return "1 = 0", []
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [int_array(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", ids


def int_array(ids) -> str:
    """A PostgreSQL array literal of integers (far cheaper than adapting a list per element)."""
    return "{" + ",".join(map(str, map(int, ids))) + "}"


# --- claiming --------------------------------------------------------------------------------

# What sending needs of each claimed touchpoint and its member: positions in a row tuple.
(
    R_ID,
    R_KEY,
    R_CAMPAIGN,
    R_STEP,
    R_VARIANT,
    R_MEMBER,
    R_CHANNEL,
    R_ATTEMPTS,
    R_COUPON,
    R_NAME,
    R_STATUS,
    R_GUIDE,
    R_STORE,
) = range(13)
_ROW_SQL = (
    "t.id, t.key, t.campaign_id, t.step_id, t.variant_id, t.member_id, t.channel, t.attempts,"
    " c.code, m.name, m.status, m.guide_id, m.home_store_id,"
    " m.phone, m.openid, m.unionid, m.wecom_external_userid, m.email"
)
# Where a channel's address column is in the row ("id" is the member id).
ADDRESS_AT = {
    "id": R_MEMBER,
    "phone": 13,
    "openid": 14,
    "unionid": 15,
    "wecom_external_userid": 16,
    "email": 17,
}


def _joins() -> str:
    # LEFT JOIN: a row whose member is gone is still returned (and skipped as inactive), never
    # left claimed forever.
    return (
        f" LEFT JOIN {Member._meta.db_table} m ON m.id = t.member_id"
        f" LEFT JOIN {Coupon._meta.db_table} c ON c.id = t.coupon_id"
    )


def touchpoint_rows(ids: list[int]) -> list[tuple]:
    """The touchpoints ``ids`` with what sending needs about their members, in one query."""
    match, params = ids_match("t.id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_ROW_SQL} FROM {outbox_table()} t{_joins()} WHERE {match} ORDER BY t.id",  # noqa: S608
            params,
        )
        return cursor.fetchall()


def claim_rows(
    *, limit: int, now: datetime, after: tuple | None
) -> tuple[list[tuple], tuple | None]:
    """Claim up to ``limit`` claimable rows from position ``after`` on; returns the rows (as
    _rows gives them) and the (send_after, id) position of the last one."""
    table = outbox_table()
    where, params = "", []
    if after is not None:
        where, params = " AND (send_after, id) > (%s, %s)", [db_datetime(after[0]), after[1]]
    pick = (
        f"SELECT id FROM {table} WHERE state IN (%s, %s) AND send_after <= %s"  # noqa: S608
        f" AND (claimed_at IS NULL OR claimed_at < %s){where} ORDER BY send_after, id LIMIT %s"
    )
    pick_params = [
        *DUE_STATES,
        db_datetime(now),
        db_datetime(_claim_cutoff(now)),
        *params,
        limit,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: pick and lock, stamp the claim (state and every indexed column
            # unchanged: a HOT update), return the rows with their members; the position comes
            # back on the last row only (datetimes are dear to load).
            cursor.execute(
                f"WITH picked AS ({pick} FOR UPDATE SKIP LOCKED),"
                f" claimed AS (UPDATE {table} AS u SET claimed_at = %s,"  # noqa: S608
                " attempts = u.attempts + 1 FROM picked WHERE u.id = picked.id"
                " RETURNING u.*),"
                " last AS (SELECT id, send_after FROM claimed ORDER BY send_after DESC, id DESC"
                " LIMIT 1)"
                f" SELECT {_ROW_SQL}, CASE WHEN t.id = last.id THEN last.send_after END"
                f" FROM claimed t CROSS JOIN last{_joins()} ORDER BY t.id",
                [*pick_params, db_datetime(now)],
            )
            fetched = cursor.fetchall()
            if not fetched:
                return [], None
            last = next(row for row in fetched if row[-1] is not None)
            return [row[:-1] for row in fetched], (aware(last[-1]), last[R_ID])
        cursor.execute(
            f"UPDATE {table} SET claimed_at = %s, attempts = attempts + 1"  # noqa: S608
            f" WHERE id IN ({pick}) RETURNING id, send_after",
            [db_datetime(now), *pick_params],
        )
        claimed = cursor.fetchall()
    if not claimed:
        return [], None
    last = max(claimed, key=lambda row: (aware(row[1]), row[0]))
    return touchpoint_rows([row[0] for row in claimed]), (aware(last[1]), last[0])


def touchpoints_claim(
    *, limit: int, now: datetime | None = None, after: tuple | None = None
) -> tuple[list[int], tuple | None]:
    """Atomically take up to ``limit`` claimable touchpoints for this worker.

    Returns their ids and the (send_after, id) position of the last one: pass it back as
    ``after`` to continue from there on the next call."""
    rows, position = claim_rows(limit=limit, now=now or timezone.now(), after=after)
    return [row[R_ID] for row in rows], position


def touchpoints_claim_ids(*, ids: list[int], now: datetime | None = None) -> list[int]:
    """Atomically take those of ``ids`` that are still claimable (a welcome message sent at
    once): rows another worker claimed or sent meanwhile are left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        claimable = Touchpoint.objects.filter(_claimable(now), pk__in=ids).order_by("pk")
        if connection.vendor == "postgresql":
            claimable = claimable.select_for_update(skip_locked=True)
        taken = list(claimable.values_list("pk", flat=True))
        Touchpoint.objects.filter(_claimable(now), pk__in=taken).update(
            claimed_at=now, attempts=F("attempts") + 1
        )
    return taken


def aware(value):
    # SQLite hands raw RETURNING timestamps back as text; PostgreSQL as aware datetimes.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def touchpoints_reclaim_stale(*, now: datetime | None = None) -> int:
    """Clear the claims of workers that died (older than the claim timeout); returns how many.
    The claim itself already treats them as claimable, so this only makes them look untaken
    (admin, results). The provider may have seen the message already; the touchpoint key sent
    with it lets providers drop the repeat."""
    now = now or timezone.now()
    cutoff = _claim_cutoff(now)
    # Rows a worker of an older release left in "sending" (it claimed by state): back to
    # pending, where the claim finds them (a small partial index holds them).
    legacy = Touchpoint.objects.filter(state=TouchpointState.SENDING, claimed_at__lt=cutoff).update(
        state=TouchpointState.PENDING, claimed_at=None
    )
    # A claim is made on a due row, so a stale one is due before the cutoff: the due index
    # narrows the search (no index covers claimed_at: it would make claims non-HOT).
    stale = Touchpoint.objects.filter(
        state__in=DUE_STATES, send_after__lt=cutoff, claimed_at__lt=cutoff
    ).update(claimed_at=None)
    return legacy + stale


def due_count(*, now: datetime | None = None) -> int:
    """Whether any touchpoint is claimable now, as 0 or 1 (tells the tick and a finishing
    sender whether to start more senders)."""
    now = now or timezone.now()
    # In the due index's order, so the planner walks it rather than the table (its figures
    # still count the rows of a fan-out that have been sent since).
    claimable = Touchpoint.objects.filter(_claimable(now)).order_by("send_after", "id")
    return len(claimable.values_list("pk", flat=True)[:1])


def member_touchpoints_stop(*, member_ids: list[int]) -> int:
    """Drop the unsent touchpoints of these members (erasure): nothing further is sent to
    them."""
    return Touchpoint.objects.filter(
        member_id__in=member_ids, state__in=[*DUE_STATES, TouchpointState.SENDING]
    ).delete()[0]
