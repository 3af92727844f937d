"""How referrals react to a member's orders (called by the event handlers in
referrals.handlers, after the order's transaction committed).

Paid and refunded handlers of one order may run at the same moment (two workers, a refund right
after the payment). Both lock the order row first (members' order_refund locks it too), so
they take turns: a refund that comes first is seen by the paid handler (it pays nothing), and
rewards paid first are committed before the refund handler looks for them to claw back. The
qualifying order (the referee's earliest, not always the one being handled) is locked as well,
in referrals.services.rewards.referral_qualify.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from members.choices import OrderStatus
from members.models import Order
from referrals.choices import ReferralStatus, RewardStatus
from referrals.models import FissionTask, Referral, Reward
from referrals.services.fission import fission_progress_refresh
from referrals.services.rewards import (
    commission_for_order,
    referral_claw_back_note,
    referral_qualify,
    reward_claw_back,
)
from referrals.services.stats import referrer_stats_refresh


@transaction.atomic
def referral_order_paid(*, order_id: int) -> None:
    """A paid order of a referred member: qualify their referral on their first qualifying
    order (rewards to referrer and referee), pay commission on two levels, and refresh the
    referrer's counts and fission progress. Safe to run twice."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.PAID or order.member_id is None:
        return
    referral = (
        Referral.objects.select_related("programme").filter(referee_id=order.member_id).first()
    )
    if referral is None or referral.status == ReferralStatus.MERGED:
        return
    now = timezone.now()
    if referral.status == ReferralStatus.PENDING and referral_qualify(referral=referral, now=now):
        referral.refresh_from_db()
        if referral.referrer_id:
            fission_progress_refresh(member_id=referral.referrer_id, now=now)
    commission_for_order(order=order, referral=referral)
    referrer_stats_refresh(member_ids=[referral.referrer_id])


@transaction.atomic
def referral_order_refunded(*, order_id: int) -> None:
    """A refunded order: its rewards are clawed back (held ones rejected); if it was a
    referral's qualifying order, the referral is marked refunded (it never qualifies again)
    and the referrer's fission progress is recounted. Safe to run twice."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.REFUNDED:
        return
    rewards = Reward.objects.filter(
        order=order, status__in=[RewardStatus.GRANTED, RewardStatus.HELD]
    ).order_by("pk")
    for reward in rewards:
        reward_claw_back(reward=reward, note=referral_claw_back_note(order))
    referral = Referral.objects.filter(
        qualified_order=order, status=ReferralStatus.QUALIFIED
    ).first()
    if referral is not None:
        referral.status = ReferralStatus.REFUNDED
        referral.save(update_fields=["status"])
        if referral.referrer_id:
            # Tasks already ended are recounted too: a refund after the end still undoes it.
            fission_progress_refresh(
                member_id=referral.referrer_id,
                task_ids=list(referral_fission_task_ids(referral)),
            )
    buyer = Referral.objects.filter(referee_id=order.member_id).first() if order.member_id else None
    referrer_stats_refresh(member_ids=[r.referrer_id for r in (referral, buyer) if r is not None])


def referral_fission_task_ids(referral: Referral):
    """Tasks whose period includes the referral's sign-up: those it may have counted for."""
    return FissionTask.objects.filter(
        starts_at__lte=referral.attached_at, ends_at__gt=referral.attached_at
    ).values_list("pk", flat=True)
