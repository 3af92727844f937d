"""Rewards: the first qualifying order, two-level commission, clawback on refund, exactly once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.choices import CouponStatus, PointsKind
from members.models import Coupon, Member, PointsEntry
from referrals.choices import ReferralStatus, RewardKind, RewardStatus
from referrals.models import Referral, Reward
from referrals.services.orders import referral_order_paid, referral_order_refunded
from tests import factories
from tests.referrals.conftest import dispatch

pytestmark = pytest.mark.django_db


def _points(member) -> int:
    return Member.objects.get(pk=member.pk).points_balance


def _reward_points(member, kind=None) -> list[int]:
    entries = Reward.objects.filter(member=member)
    if kind:
        entries = entries.filter(kind=kind)
    return sorted(entries.values_list("points", flat=True))


def test_first_qualifying_order_rewards_referrer_and_referee_through_the_ledger(
    make_member, refer, pay, programme
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "150")
    referral = Referral.objects.get(referee=friend)
    assert referral.status == ReferralStatus.QUALIFIED and referral.qualified_order == order
    reward = Reward.objects.get(kind=RewardKind.REFERRER)
    assert (reward.member, reward.points, reward.status) == (referrer, 100, RewardStatus.GRANTED)
    entry = reward.points_entry
    assert (entry.member_id, entry.delta, entry.kind) == (referrer.pk, 100, PointsKind.EARN)
    # The referrer's reward is not tied to the friend's order in the points ledger, so the
    # members' own refund logic never takes it from the friend.
    assert entry.order is None
    assert Reward.objects.get(kind=RewardKind.REFEREE).points == 50
    # Referrer: 100 reward + 15 commission (10 % of 150). Friend: 150 order points + 50.
    assert _points(referrer) == 115
    assert _points(friend) == 200


def test_orders_below_the_minimum_or_outside_the_window_do_not_qualify(
    make_member, refer, pay, programme
):
    referrer, friend = make_member(), make_member()
    referral = refer(friend, referrer)
    pay(friend, "99.99")
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING
    Referral.objects.filter(pk=referral.pk).update(qualify_by=timezone.now() - timedelta(seconds=1))
    pay(friend, "500")
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING
    assert not Reward.objects.filter(kind=RewardKind.REFERRER).exists()


def test_the_earliest_qualifying_order_qualifies_whatever_order_events_arrive_in(
    make_member, refer, pay, programme
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    now = timezone.now()
    first = pay(friend, "120", paid_at=now, run=False)
    second = pay(friend, "300", paid_at=now + timedelta(seconds=5), run=False)
    referral_order_paid(order_id=second.pk)
    referral_order_paid(order_id=first.pk)
    assert Referral.objects.get(referee=friend).qualified_order == first
    assert Reward.objects.filter(kind=RewardKind.REFERRER).count() == 1


def test_reward_path_called_twice_writes_one_ledger_row(make_member, refer, pay, programme):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200")
    before = PointsEntry.objects.filter(member=referrer).count()
    referral_order_paid(order_id=order.pk)
    referral_order_paid(order_id=order.pk)
    dispatch()
    assert PointsEntry.objects.filter(member=referrer).count() == before
    assert Reward.objects.filter(order=order).count() == 3  # referrer, referee, commission 1


def test_commission_is_paid_two_levels_up_and_never_further(chain, pay, programme):
    a, b, c, d = chain(4)  # a refers b, b refers c, c refers d
    order = pay(d, "200")
    commissions = {
        r.kind: (r.member_id, r.points)
        for r in Reward.objects.filter(order=order, kind__startswith="commission")
    }
    assert commissions == {
        RewardKind.COMMISSION_1: (c.pk, 20),  # 10 % of 200
        RewardKind.COMMISSION_2: (b.pk, 10),  # 5 % of 200
    }
    assert not Reward.objects.filter(member=a).exists()
    assert _points(a) == 0


def test_a_deep_chain_still_pays_only_two_levels(chain, pay, programme):
    members = chain(8)
    pay(members[-1], "1000")
    paid = set(
        Reward.objects.filter(kind__startswith="commission").values_list("member_id", flat=True)
    )
    assert paid == {members[-2].pk, members[-3].pk}


def test_guide_referred_buyers_earn_no_commission_for_the_guide(
    make_member, refer, pay, guide, programme
):
    friend = make_member()
    refer(friend, guide)
    pay(friend, "500")
    assert set(Reward.objects.values_list("kind", flat=True)) == {RewardKind.REFEREE}


def test_refund_claws_back_points_and_the_referral_never_requalifies(
    make_member, refer, pay, refund, programme
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200")
    assert _points(referrer) == 120
    refund(order)
    assert _points(referrer) == 0
    assert set(Reward.objects.filter(order=order).values_list("status", flat=True)) == {
        RewardStatus.CLAWED_BACK
    }
    assert Referral.objects.get(referee=friend).status == ReferralStatus.REFUNDED
    # The refund event delivered again changes nothing.
    referral_order_refunded(order_id=order.pk)
    assert PointsEntry.objects.filter(member=referrer, kind=PointsKind.ADJUST).count() == 2
    pay(friend, "300")
    assert not Reward.objects.filter(kind=RewardKind.REFERRER, status=RewardStatus.GRANTED).exists()
    # Commission on a later real purchase is still paid.
    assert (
        Reward.objects.filter(kind=RewardKind.COMMISSION_1, status=RewardStatus.GRANTED).count()
        == 1
    )


def test_clawback_never_takes_the_balance_below_zero(make_member, refer, pay, refund, programme):
    from members.services.benefits import points_spend

    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200")
    points_spend(member=referrer, points=110, reason="gift")
    refund(order)
    assert _points(referrer) == 0
    rewards = {r.kind: r.clawed_points for r in Reward.objects.filter(order=order, member=referrer)}
    assert sum(rewards.values()) == 10


def test_coupon_rewards_are_issued_and_voided_on_refund(make_member, refer, pay, refund, programme):
    template = factories.CouponTemplateFactory(total_quantity=10)
    programme.referrer_points = 0
    programme.referrer_coupon = template
    programme.save()
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200")
    reward = Reward.objects.get(kind=RewardKind.REFERRER)
    assert reward.coupon.member == referrer and reward.coupon.template == template
    refund(order)
    assert Coupon.objects.get(pk=reward.coupon_id).status == CouponStatus.VOID


def test_a_coupon_that_ran_out_holds_the_reward_with_the_reason(make_member, refer, pay, programme):
    template = factories.CouponTemplateFactory(total_quantity=0)
    programme.referrer_points = 0
    programme.referrer_coupon = template
    programme.save()
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    pay(friend, "200")
    reward = Reward.objects.get(kind=RewardKind.REFERRER)
    assert reward.status == RewardStatus.HELD and reward.note
    assert not Coupon.objects.filter(member=referrer).exists()


def test_an_inactive_programme_pays_nothing(make_member, refer, pay, programme):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    programme.is_active = False
    programme.save()
    pay(friend, "500")
    assert not Reward.objects.exists()
    assert Referral.objects.get(referee=friend).status == ReferralStatus.QUALIFIED


def test_referrer_counts_follow_orders_and_refunds(make_member, refer, pay, refund, programme):
    from referrals.models import ReferralNode

    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200")
    pay(friend, "50")
    node = ReferralNode.objects.get(pk=referrer.pk)
    assert (node.qualified_count, node.revenue) == (1, Decimal("250.00"))
    refund(order)
    node.refresh_from_db()
    assert (node.qualified_count, node.revenue) == (0, Decimal("50.00"))
