"""Read queries over groups, shared by the API, the admin and the tasks. Who may see which
group lives here: operators and API keys all of them, a shop guide their store's groups (a
brand-wide group without a store is for operators only).

Stats are SQL aggregates: orders count for a group when a member paid them while in it
(joined at or before the payment, not yet left), refunded orders excluded.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from groups.choices import GroupStatus, JoinMethod
from groups.models import CommunityGroup, GroupMembership, JoinCode
from members.choices import OrderStatus
from members.models import Member, Order
from members.selectors import members_visible_to
from scrm.api.permissions import is_guide, is_operator
from scrm.api.principals import ApiKeyPrincipal

MAX_STATS_DAYS = 366
CENT = Decimal("0.01")


def groups_visible_to(actor) -> QuerySet[CommunityGroup]:
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return CommunityGroup.objects.all()
    if is_guide(actor):
        return CommunityGroup.objects.filter(store_id=actor.guide.store_id)
    return CommunityGroup.objects.none()


def join_codes_visible_to(actor) -> QuerySet[JoinCode]:
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return JoinCode.objects.all()
    if is_guide(actor):
        return JoinCode.objects.filter(store_id=actor.guide.store_id)
    return JoinCode.objects.none()


def _count_of(queryset: QuerySet, column: str) -> Coalesce:
    counted = queryset.order_by().values(column).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def join_codes_with_counts(codes: QuerySet[JoinCode]) -> QuerySet[JoinCode]:
    """Codes with ``joins`` (members who joined through the code, leavers included) and
    ``live_groups`` (open and full groups of the pool): one correlated count each, from the
    indexes on the code columns."""
    return codes.annotate(
        joins=_count_of(
            GroupMembership.objects.filter(code=OuterRef("pk"), how=JoinMethod.CODE), "code"
        ),
        live_groups=_count_of(
            CommunityGroup.objects.filter(join_code=OuterRef("pk")).exclude(
                status=GroupStatus.DISSOLVED
            ),
            "join_code",
        ),
    )


def pool_with_room(code: JoinCode, *, now: datetime) -> QuerySet[CommunityGroup]:
    """The code's groups a newcomer may be seated in, in the order they fill."""
    return (
        CommunityGroup.objects.filter(
            join_code=code, status=GroupStatus.OPEN, member_count__lt=F("capacity")
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("position", "pk")
    )


def current_memberships(*, member_id: int) -> QuerySet[GroupMembership]:
    """A member's current groups ("my groups"), newest first."""
    return (
        GroupMembership.objects.filter(member_id=member_id, left_at__isnull=True)
        .exclude(group__status=GroupStatus.DISSOLVED)
        .select_related("group", "group__owner")
        .order_by("-joined_at", "-pk")
    )


def pool_membership(*, member_id: int, code: JoinCode) -> GroupMembership | None:
    """The member's current seat in any live group of the code's pool, if they have one."""
    return (
        GroupMembership.objects.filter(
            member_id=member_id, left_at__isnull=True, group__join_code=code
        )
        .exclude(group__status=GroupStatus.DISSOLVED)
        .select_related("group")
        .order_by("pk")
        .first()
    )


def group_current_members(group: CommunityGroup, *, actor) -> QuerySet[GroupMembership]:
    """The group's current members the caller may see (a guide: their store's members)."""
    memberships = GroupMembership.objects.filter(group=group, left_at__isnull=True)
    if not (isinstance(actor, ApiKeyPrincipal) or is_operator(actor)):
        memberships = memberships.filter(member__in=members_visible_to(actor).values("pk"))
    return memberships.select_related("member", "invited_by")


def _orders_in_group(group_id: int, *, until: datetime | None = None) -> QuerySet[Order]:
    """Paid orders of the group's members paid while they were in it."""
    in_group = GroupMembership.objects.filter(
        group_id=group_id, member_id=OuterRef("member_id"), joined_at__lte=OuterRef("paid_at")
    ).filter(Q(left_at__isnull=True) | Q(left_at__gt=OuterRef("paid_at")))
    orders = Order.objects.filter(
        status=OrderStatus.PAID,
        member_id__in=GroupMembership.objects.filter(group_id=group_id).values("member_id"),
    ).filter(Exists(in_group))
    if until is not None:
        orders = orders.filter(paid_at__lte=until)
    return orders


def group_sales(group_id: int, *, until: datetime | None = None) -> dict:
    """Orders, buyers, revenue and repeat buyers (two orders or more) of the group's members
    while in the group: three aggregate queries, whatever the group's size."""
    orders = _orders_in_group(group_id, until=until)
    totals = orders.aggregate(
        orders=Count("pk"), buyers=Count("member_id", distinct=True), revenue=Sum("paid_amount")
    )
    repeat = orders.order_by().values("member_id").annotate(n=Count("pk")).filter(n__gte=2).count()
    buyers = totals["buyers"] or 0
    return {
        "orders": totals["orders"] or 0,
        "buyers": buyers,
        "revenue": Decimal(totals["revenue"] or 0).quantize(CENT),
        "repeat_buyers": repeat,
        "repurchase_rate": round(repeat / buyers, 4) if buyers else 0.0,
    }


def _local_day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _per_day(queryset: QuerySet, column: str) -> dict[date, int]:
    rows = (
        queryset.annotate(day=TruncDate(column, tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
    )
    return {row["day"]: row["n"] for row in rows}


def group_stats(group: CommunityGroup, *, days: int = 30, now: datetime | None = None) -> dict:
    """Size and seats, joins and leaves per local day over the last ``days`` days (today
    included, zeros filled in), and the sales of its members while in it."""
    days = min(max(int(days), 1), MAX_STATS_DAYS)
    now = now or timezone.now()
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    since = _local_day_start(first)
    memberships = GroupMembership.objects.filter(group=group)
    joins = _per_day(memberships.filter(joined_at__gte=since), "joined_at")
    leaves = _per_day(memberships.filter(left_at__gte=since), "left_at")
    daily = [
        {"day": day, "joins": joins.get(day, 0), "leaves": leaves.get(day, 0)}
        for day in (first + timedelta(days=n) for n in range(days))
    ]
    totals = memberships.aggregate(
        joins=Count("pk"), leaves=Count("pk", filter=Q(left_at__isnull=False))
    )
    until = group.dissolved_at if group.status == GroupStatus.DISSOLVED else None
    return {
        "group_id": group.pk,
        "status": group.status,
        "size": group.member_count,
        "capacity": group.capacity,
        "seats_left": group.seats_left,
        "joins_total": totals["joins"],
        "leaves_total": totals["leaves"],
        "days": daily,
        "sales": group_sales(group.pk, until=until),
    }


def member_ids_in_group(group_id: int) -> list[int]:
    """Ids of the group's current members (bounded by its capacity)."""
    return list(
        GroupMembership.objects.filter(group_id=group_id, left_at__isnull=True)
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )


def members_in_pool(code: JoinCode) -> QuerySet[Member]:
    """Members with a current seat in a live group of the code's pool (a subquery)."""
    return Member.objects.filter(
        Exists(
            GroupMembership.objects.filter(
                member=OuterRef("pk"), left_at__isnull=True, group__join_code=code
            ).exclude(group__status=GroupStatus.DISSOLVED)
        )
    )


def members_latest_group(*, member_ids: list[int]) -> dict[int, dict]:
    """For each member, the live group they joined last: {member_id: {"group_id", "name",
    "invite_link", "owner_name"}}; one query for a batch (the campaign engine's welcome
    message can fill {{ group_name }} and {{ group_link }} from it)."""
    rows = (
        GroupMembership.objects.filter(member_id__in=member_ids, left_at__isnull=True)
        .exclude(group__status=GroupStatus.DISSOLVED)
        .order_by("member_id", "-joined_at", "-pk")
        .values("member_id", "group_id", "group__name", "group__invite_link", "group__owner__name")
    )
    latest: dict[int, dict] = {}
    for row in rows:
        latest.setdefault(
            row["member_id"],
            {
                "group_id": row["group_id"],
                "name": row["group__name"],
                "invite_link": row["group__invite_link"],
                "owner_name": row["group__owner__name"],
            },
        )
    return latest
