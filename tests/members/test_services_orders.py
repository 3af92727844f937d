"""Idempotent order upserts, refunds and purchase stats."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.choices import OrderStatus
from members.models import Order
from members.services.orders import member_stats_refresh, order_upsert
from tests import factories

pytestmark = pytest.mark.django_db


def _order(member, external_id="E1", amount="120.00", **kw):
    kw.setdefault("paid_at", timezone.now() - timedelta(days=1))
    return order_upsert(
        source="pos", external_id=external_id, member=member, paid_amount=amount, **kw
    )


def test_paid_order_updates_stats_and_earns_points():
    member = factories.MemberFactory()
    _order(member, "E1", "120.00", gross_margin="50")
    _order(member, "E2", "80.50", gross_margin="30", paid_at=timezone.now() - timedelta(days=10))
    member.refresh_from_db()
    assert member.order_count == 2
    assert member.total_paid == Decimal("200.50")
    assert member.total_margin == Decimal("80.00")
    assert member.first_purchase_at < member.last_purchase_at
    assert member.points_balance == 120 + 80


def test_resending_the_same_order_changes_nothing():
    member = factories.MemberFactory()
    order, created = _order(member)
    again, created_again = _order(member, paid_at=order.paid_at)
    member.refresh_from_db()
    assert (created, created_again) == (True, False)
    assert again.pk == order.pk
    assert member.order_count == 1
    assert member.points_balance == 120


def test_reused_external_id_with_other_content_is_refused():
    member = factories.MemberFactory()
    order, _ = _order(member)
    with pytest.raises(ValidationError) as err:
        _order(member, amount="999", paid_at=order.paid_at)
    assert "external_id" in err.value.message_dict
    assert Order.objects.get().paid_amount == Decimal("120.00")


def test_refund_removes_the_order_from_stats_and_takes_points_back():
    member = factories.MemberFactory()
    order, _ = _order(member)
    _order(member, paid_at=order.paid_at, status=OrderStatus.REFUNDED)
    member.refresh_from_db()
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert member.order_count == 0
    assert member.total_paid == 0
    assert member.last_purchase_at is None
    assert member.points_balance == 0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"paid_amount": "-1"}, "paid_amount"),
        ({"paid_amount": "abc"}, "paid_amount"),
        ({"external_id": ""}, "external_id"),
        ({"status": "lost"}, "status"),
        ({"item_count": -2}, "item_count"),
        ({"paid_at": timezone.now() + timedelta(days=2)}, "paid_at"),
    ],
)
def test_bad_orders_are_refused_and_nothing_written(kwargs, field):
    member = factories.MemberFactory()
    values = {
        "source": "pos",
        "external_id": "X1",
        "member": member,
        "paid_amount": "10",
        "paid_at": timezone.now(),
    }
    values.update(kwargs)
    with pytest.raises(ValidationError) as err:
        order_upsert(**values)
    assert field in err.value.message_dict
    assert not Order.objects.exists()
    member.refresh_from_db()
    assert member.order_count == 0


def test_stats_refresh_resets_members_without_paid_orders():
    member = factories.MemberFactory(order_count=5, total_paid=Decimal("9"))
    factories.OrderFactory(member=member, status=OrderStatus.REFUNDED)
    assert member_stats_refresh(member_ids=[member.pk]) == 1
    member.refresh_from_db()
    assert (member.order_count, member.total_paid) == (0, 0)
