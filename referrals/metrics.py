"""Programme metrics: referral rate (荐新率) and k-factor over a period (docs/referrals.md).

- active members: members (status active) whose last paid order is within
  SCRM_REFERRAL_ACTIVE_DAYS (365) before the period's end;
- referral rate: the share of active members who brought at least one new buyer (a referral of
  this programme that qualified in the period);
- k-factor: new buyers brought in the period per active member (and the same for sign-ups);
- revenue: what the programme's referred members have paid, refunds excluded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from members.choices import MemberStatus
from members.models import Member
from referrals.choices import ReferralStatus
from referrals.models import Programme, Referral


@dataclass(frozen=True)
class ProgrammeMetrics:
    since: datetime
    until: datetime
    active_members: int
    signups: int
    new_buyers: int
    referrers_with_new_buyer: int
    referral_rate: float
    k_factor: float
    k_factor_signups: float
    revenue: Decimal

    def as_dict(self) -> dict:
        return asdict(self)


def programme_metrics(
    programme: Programme, *, since: datetime | None = None, until: datetime | None = None
) -> ProgrammeMetrics:
    """The programme's figures for [since, until): by default from its start (or creation) to
    its end or now, whichever is first."""
    now = timezone.now()
    until = until or min(filter(None, [programme.ends_at, now]))
    since = since or programme.starts_at or programme.created_at
    days = int(getattr(settings, "SCRM_REFERRAL_ACTIVE_DAYS", 365))
    active = Member.objects.filter(
        status=MemberStatus.ACTIVE,
        last_purchase_at__gte=until - timedelta(days=days),
    )
    referrals = Referral.objects.filter(programme=programme)
    qualified = referrals.filter(
        status=ReferralStatus.QUALIFIED, qualified_at__gte=since, qualified_at__lt=until
    )
    active_count = active.count()
    signups = (
        referrals.filter(attached_at__gte=since, attached_at__lt=until)
        .exclude(status=ReferralStatus.MERGED)
        .count()
    )
    new_buyers = qualified.count()
    bringers = active.filter(
        pk__in=qualified.filter(referrer__isnull=False).values("referrer_id")
    ).count()
    revenue = Member.objects.filter(referral__programme=programme).exclude(
        referral__status=ReferralStatus.MERGED
    ).aggregate(s=Sum("total_paid"))["s"] or Decimal("0")

    def share(n: int) -> float:
        return round(n / active_count, 4) if active_count else 0.0

    return ProgrammeMetrics(
        since=since,
        until=until,
        active_members=active_count,
        signups=signups,
        new_buyers=new_buyers,
        referrers_with_new_buyer=bringers,
        referral_rate=share(bringers),
        k_factor=share(new_buyers),
        k_factor_signups=share(signups),
        revenue=revenue,
    )
