"""Read queries over referrals, shared by the API, the admin and the bench.

Upline: the node's path names every ancestor, so it is one primary-key lookup plus one
``IN (...)`` for the ancestors' rows. Downline: a range of paths (referrals.fields), counted
per level with ``depth``. Neither recurses.
"""

from __future__ import annotations

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
    (a guide sees that there is someone, not who)."""
    ids = node.ancestor_ids
    if not ids:
        return []
    rows = {
        row["id"]: row
        for row in (members if members is not None else Member.objects.all())
        .filter(pk__in=ids)
        .values(*UPLINE_FIELDS)
    }
    return [{"depth": depth, "member": rows.get(pk)} for depth, pk in enumerate(ids)]


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
    """Everyone below ``node``, counted from the index (the node also stores it)."""
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
