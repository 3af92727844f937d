"""Referrer counts kept on their tree node: invitees who bought, and invitees' revenue."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, DecimalField, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from members.models import Member
from referrals.choices import ReferralStatus
from referrals.models import Referral, ReferralNode


def referrer_stats_refresh(*, member_ids: Iterable[int]) -> int:
    """Recount qualified invitees and sum invitees' paid revenue (Member.total_paid, refunds
    excluded) for the given referrers, in one UPDATE per 1,000 of them."""
    ids = sorted({pk for pk in member_ids if pk})
    invitees = Referral.objects.filter(referrer_id=OuterRef("pk")).order_by().values("referrer_id")
    qualified = invitees.filter(status=ReferralStatus.QUALIFIED).annotate(n=Count("pk")).values("n")
    revenue = (
        Member.objects.filter(referral__referrer_id=OuterRef("pk"))
        .order_by()
        .values("referral__referrer_id")
        .annotate(s=Sum("total_paid"))
        .values("s")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    updated = 0
    for start in range(0, len(ids), 1000):
        updated += ReferralNode.objects.filter(pk__in=ids[start : start + 1000]).update(
            qualified_count=Coalesce(Subquery(qualified), 0, output_field=IntegerField()),
            revenue=Coalesce(Subquery(revenue), 0, output_field=money),
        )
    return updated
