"""Points ledger and coupons."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from members.choices import CouponStatus, PointsKind
from members.models import Coupon, Member, PointsEntry
from members.services.benefits import (
    coupon_redeem,
    coupons_expire_due,
    coupons_issue,
    points_adjust,
    points_earn,
    points_expire_due,
    points_spend,
)
from members.services.orders import order_upsert
from tests import factories

pytestmark = pytest.mark.django_db


def _ledger_sum(member):
    return PointsEntry.objects.filter(member=member).aggregate(s=Sum("delta"))["s"] or 0


def test_earn_and_spend_keep_balance_equal_to_ledger():
    member = factories.MemberFactory()
    points_earn(member=member, points=100, reason="signup")
    points_spend(member=member, points=30, reason="gift")
    member.refresh_from_db()
    assert member.points_balance == 70 == _ledger_sum(member)


def test_spending_more_than_the_balance_is_refused():
    member = factories.MemberFactory()
    points_earn(member=member, points=10, reason="signup")
    with pytest.raises(ValidationError) as err:
        points_spend(member=member, points=11, reason="too much")
    assert "points" in err.value.message_dict
    member.refresh_from_db()
    assert member.points_balance == 10
    assert PointsEntry.objects.filter(member=member).count() == 1


@pytest.mark.parametrize("points", [0, -5])
def test_non_positive_points_are_refused(points):
    with pytest.raises(ValidationError):
        points_earn(member=factories.MemberFactory(), points=points, reason="x")


def test_expiry_lapses_only_unspent_points_of_due_lots():
    member = factories.MemberFactory()
    points_earn(member=member, points=100, reason="old", valid_days=1)
    points_earn(member=member, points=50, reason="new", valid_days=300)
    points_spend(member=member, points=30, reason="spent from the oldest lot")
    points_expire_due(now=timezone.now() + timedelta(days=2))
    member.refresh_from_db()
    assert member.points_balance == 50
    assert PointsEntry.objects.get(member=member, kind=PointsKind.EXPIRE).delta == -70
    assert _ledger_sum(member) == 50
    # Running it again expires nothing more.
    points_expire_due(now=timezone.now() + timedelta(days=2))
    member.refresh_from_db()
    assert member.points_balance == 50


def test_adjust_needs_a_reason_and_cannot_go_negative():
    member = factories.MemberFactory()
    with pytest.raises(ValidationError):
        points_adjust(member=member, points=5, reason=" ")
    with pytest.raises(ValidationError):
        points_adjust(member=member, points=-1, reason="fix")
    points_adjust(member=member, points=5, reason="goodwill")
    member.refresh_from_db()
    assert member.points_balance == 5


def test_coupon_stock_is_never_oversold():
    template = factories.CouponTemplateFactory(total_quantity=3)
    factories.MemberFactory.create_batch(4)
    with pytest.raises(ValidationError):
        coupons_issue(template=template, members=Member.objects.all())
    assert not Coupon.objects.exists()
    first_three = Member.objects.order_by("pk").values("pk")[:3]
    assert coupons_issue(template=template, members=Member.objects.filter(pk__in=first_three)) == 3
    template.refresh_from_db()
    assert template.issued_count == 3
    assert len(set(Coupon.objects.values_list("code", flat=True))) == 3


def test_coupon_redeems_once_against_a_qualifying_order():
    member = factories.MemberFactory()
    template = factories.CouponTemplateFactory(threshold=Decimal("100"))
    coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    coupon = Coupon.objects.get()
    small, _ = order_upsert(
        source="pos", external_id="S", member=member, paid_amount="50", paid_at=timezone.now()
    )
    big, _ = order_upsert(
        source="pos", external_id="B", member=member, paid_amount="150", paid_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        coupon_redeem(code=coupon.code, order=small)
    assert coupon_redeem(code=coupon.code.lower(), order=big).status == CouponStatus.REDEEMED
    with pytest.raises(ValidationError):
        coupon_redeem(code=coupon.code, order=big)


def test_coupon_of_another_member_or_expired_is_refused():
    owner, stranger = factories.MemberFactory(), factories.MemberFactory()
    template = factories.CouponTemplateFactory(threshold=0)
    coupons_issue(template=template, members=Member.objects.filter(pk=owner.pk))
    coupon = Coupon.objects.get()
    order, _ = order_upsert(
        source="pos", external_id="O", member=stranger, paid_amount="10", paid_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        coupon_redeem(code=coupon.code, order=order)
    assert coupons_expire_due(now=timezone.now() + timedelta(days=31)) == 1
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.EXPIRED
