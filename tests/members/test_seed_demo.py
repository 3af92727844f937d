"""Demo data: reproducible from a seed, and every invariant of the real services holds."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone, translation

from members.choices import CouponStatus, OrderStatus
from members.demo.seed import DemoDataExists, demo_invariants_check, demo_seed
from members.identity import phone_normalise
from members.models import (
    Coupon,
    CouponTemplate,
    Event,
    Member,
    MemberTag,
    Order,
    PointsEntry,
    Tier,
)

pytestmark = pytest.mark.django_db

MEMBERS = 200


def _snapshot():
    members = list(Member.objects.order_by("pk").values_list("name", "phone", "gender", "city"))
    orders = list(
        Order.objects.order_by("pk").values_list(
            "external_id", "member__phone", "paid_amount", "status"
        )
    )
    totals = Order.objects.aggregate(n=Count("pk"), s=Sum("paid_amount"))
    tags = sorted(MemberTag.objects.values_list("member__phone", "tag__name"))
    return members, orders, totals, tags


def test_same_seed_same_data_and_another_seed_other_data():
    demo_seed(members=MEMBERS, seed=5, events=False)
    first = _snapshot()
    demo_seed(members=MEMBERS, seed=5, events=False, reset=True)
    assert _snapshot() == first
    demo_seed(members=MEMBERS, seed=6, events=False, reset=True)
    other = _snapshot()
    assert other[0] != first[0]
    assert other[2] != first[2]


def test_invariants_hold():
    summary = demo_seed(members=MEMBERS, seed=3)
    assert summary.rows["members"] == Member.objects.count() == MEMBERS
    assert summary.problems == demo_invariants_check()
    assert not any(summary.problems.values())
    assert Order.objects.count() > MEMBERS  # repurchase: more orders than members

    for member in Member.objects.annotate(
        n=Count("orders", filter=Q(orders__status=OrderStatus.PAID)),
        paid=Sum("orders__paid_amount", filter=Q(orders__status=OrderStatus.PAID)),
        first=Min("orders__paid_at", filter=Q(orders__status=OrderStatus.PAID)),
        last=Max("orders__paid_at", filter=Q(orders__status=OrderStatus.PAID)),
    ):
        assert member.order_count == member.n
        assert member.total_paid == (member.paid or 0)
        assert (member.first_purchase_at, member.last_purchase_at) == (member.first, member.last)
        ledger = PointsEntry.objects.filter(member=member)
        assert member.points_balance == (ledger.aggregate(s=Sum("delta"))["s"] or 0)
        assert member.points_balance == (ledger.aggregate(s=Sum("remaining"))["s"] or 0)
        assert member.points_balance >= 0
        assert phone_normalise(member.phone) == member.phone
        assert member.created_at <= (member.first_purchase_at or member.created_at)
    assert not PointsEntry.objects.filter(balance_after__lt=0).exists()
    assert not Order.objects.filter(paid_at__gt=timezone.now()).exists()


def test_benefits_tags_and_tiers_are_consistent():
    demo_seed(members=MEMBERS, seed=4)
    redeemed = Coupon.objects.filter(status=CouponStatus.REDEEMED)
    assert redeemed.exists()
    assert not redeemed.exclude(redeemed_order__member=F("member")).exists()
    assert not redeemed.filter(redeemed_order__paid_amount__lt=F("template__threshold")).exists()
    assert not redeemed.exclude(issued_at__lte=F("redeemed_at"), expires_at__gt=F("redeemed_at"))
    for template in CouponTemplate.objects.annotate(n=Count("coupons")):
        assert template.issued_count == template.n
    single = MemberTag.objects.filter(tag__group__multi_select=False)
    per_group = single.values("member", "tag__group").annotate(n=Count("pk"))
    assert not per_group.filter(n__gt=1).exists()
    for tier in Tier.objects.all():
        assert Member.objects.filter(tier=tier).exists() or tier.code in ("gold", "black")
    assert Member.objects.filter(tier__code="normal").exclude(total_paid__lt=1000).count() == 0
    paid = Order.objects.filter(status=OrderStatus.PAID).count()
    assert Event.objects.filter(kind="order.paid").count() == paid
    assert Event.objects.filter(kind="member.created").count() == MEMBERS
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_refuses_to_seed_over_existing_members():
    demo_seed(members=10, events=False)
    with pytest.raises(DemoDataExists):
        demo_seed(members=10)
    with pytest.raises(CommandError):
        call_command("seed_demo", "--members", "10", "--no-progress")
    assert Member.objects.count() == 10


def test_command_prints_guide_logins_that_work(capsys):
    with translation.override("en"):
        call_command("seed_demo", "--members", "30", "--seed", "2", "--no-progress")
    out = capsys.readouterr().out
    assert "guide.sh01.1" in out and "guide-demo" in out
    assert "Invariants hold" in out
    user = get_user_model().objects.get(username="guide.sh01.1")
    assert user.is_staff and user.check_password("guide-demo")
    assert user.groups.filter(name="Shop guides").exists()
    assert user.guide.store.code == "SH01"


def test_orders_per_member_sets_the_average_and_stays_reproducible():
    summary = demo_seed(members=MEMBERS, seed=5, events=False, orders_per_member=5)
    assert 4.5 <= summary.rows["orders"] / MEMBERS <= 5.5
    assert not any(summary.problems.values())
    first = _snapshot()
    demo_seed(members=MEMBERS, seed=5, events=False, reset=True, orders_per_member=5)
    assert _snapshot() == first
    natural = demo_seed(members=MEMBERS, seed=5, events=False, reset=True)
    assert natural.rows["orders"] < summary.rows["orders"] / 2  # about 2 a member


def test_orders_per_member_out_of_reach_is_refused_before_any_work():
    with translation.override("en"), pytest.raises(CommandError) as caught:
        call_command("seed_demo", "--members", "10", "--orders-per-member", "0.1", "--no-progress")
    assert "Members can average 0.8 to" in str(caught.value) and "not 0.1" in str(caught.value)
    assert not Member.objects.exists()


def test_command_seeds_the_orders_asked_for(capsys):
    call_command(
        "seed_demo", "--members", "100", "--orders-per-member", "3", "--no-events", "--no-progress"
    )
    assert 2.5 <= Order.objects.count() / 100 <= 3.5
