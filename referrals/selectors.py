"""Read queries over referrals, shared by the API, the admin and the bench.

Upline: the node's path names every ancestor, so with the node in hand it is one query (the
ancestors' rows by primary key, ``IN (...)``). Downline: a range of paths (referrals.fields),
``path > '/12/' AND path < '/120'`` for everyone below ``/12/``, counted by an index-only scan
of the (path, depth) index, per level with ``depth``. Neither recurses.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Count, QuerySet

from members.models import Member
from referrals.models import FissionProgress, FissionTask, Referral, ReferralNode, Reward
from referrals.services.tree import subtree

UPLINE_FIELDS = ("id", "name", "phone", "status", "home_store_id")


def node_of(member_id: int) -> ReferralNode | None:
    return ReferralNode.objects.filter(pk=member_id).first()


def upline(node: ReferralNode, *, members: QuerySet[Member] | None = None) -> list[dict]:
    """The node's ancestors from the root down to its referrer, each with its depth and, if it
    is in ``members`` (default: all), the member's row; others come back with ``member`` None
    (a guide sees that there is someone, not who).

    One query, one round trip: the ids come from the path. Unrestricted (the admin, the bench)
    it is a fixed-shape statement sent through the cursor: building and compiling a queryset
    costs about 0.2 ms a call, most of the time of this read, which the issue puts a target on
    (faster than a recursive CTE: bench/bench_referrals.py). Restricted to ``members`` (the
    API) it is the queryset filtered by the ids, so the restriction stays the caller's."""
    ids = node.ancestor_ids
    if not ids:
        return []
    if members is None:
        with connection.cursor() as cursor:
            cursor.execute(_upline_sql(len(ids)), ids)
            found = cursor.fetchall()
    else:
        found = members.filter(pk__in=ids).values_list(*UPLINE_FIELDS)
    rows = {row[0]: dict(zip(UPLINE_FIELDS, row, strict=True)) for row in found}
    return [{"depth": depth, "member": rows.get(pk)} for depth, pk in enumerate(ids)]


def _upline_sql(n: int) -> str:
    return _upline_sql_for(connection.vendor, n)


@functools.lru_cache(maxsize=256)
def _upline_sql_for(vendor: str, n: int) -> str:
    """SELECT the UPLINE_FIELDS of members WHERE id IN (n placeholders)."""
    quote = connection.ops.quote_name
    table = quote(Member._meta.db_table)
    columns = ", ".join(
        f"{table}.{quote(Member._meta.get_field(name).column)}" for name in UPLINE_FIELDS
    )
    pk = f"{table}.{quote(Member._meta.pk.column)}"
    return f"SELECT {columns} FROM {table} WHERE {pk} IN ({', '.join(['%s'] * n)})"


def downline_levels(node: ReferralNode) -> list[dict]:
    """Members below ``node`` per level (1 = their own invitees): one grouped index range."""
    counts = (
        subtree(node.path, include_self=False)
        .order_by()
        .values("depth")
        .annotate(n=Count("pk"))
        .order_by("depth")
    )
    return [{"level": row["depth"] - node.depth, "count": row["n"]} for row in counts]


def downline_count(node: ReferralNode) -> int:
    """Everyone below ``node``, counted over the tree's index: one range, both bounds index
    conditions, an index-only scan (no heap visit once the table is vacuumed). The node also
    stores the figure (``downline_count``), kept by the services; this is the check."""
    return subtree(node.path, include_self=False).count()


def downline_at_level(node: ReferralNode, level: int) -> QuerySet[ReferralNode]:
    """Nodes exactly ``level`` levels below ``node``, in path order (a range in one depth)."""
    return subtree(node.path, include_self=False).filter(depth=node.depth + level)


def invitees(member_id: int) -> QuerySet[Referral]:
    """Who the member referred directly, newest first."""
    return (
        Referral.objects.filter(referrer_id=member_id)
        .select_related("referee")
        .order_by("-attached_at", "-pk")
    )


def member_rewards(member_id: int) -> QuerySet[Reward]:
    return Reward.objects.filter(member_id=member_id).select_related("coupon_template", "task")


def leaderboard(task: FissionTask, *, limit: int = 50) -> QuerySet[FissionProgress]:
    """The task's leaders: most friends first, then who got there first."""
    return (
        FissionProgress.objects.filter(task=task, count__gt=0)
        .select_related("member")
        .order_by("-count", "reached_at", "member_id")[:limit]
    )


def referrer_leaderboard(*, limit: int = 50) -> QuerySet[ReferralNode]:
    """Members who brought the most buyers."""
    return (
        ReferralNode.objects.filter(qualified_count__gt=0)
        .select_related("member")
        .order_by("-qualified_count", "-revenue", "member_id")[:limit]
    )


def fission_tasks_running(now) -> QuerySet[FissionTask]:
    return FissionTask.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
