"""Flash-sale groups: members are told before the end, the group is dissolved on time, once,
with the sales its members made while in it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from groups.choices import DissolveReason, GroupPurpose, GroupStatus, LeaveReason
from groups.events import GroupEventKind
from groups.models import GroupMembership
from groups.services.flash import flash_groups_dissolve_due, flash_groups_notify_due
from groups.services.groups import group_create, group_dissolve, group_update
from groups.services.seats import group_members_add
from members.models import Event, Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def flash(make_member, seat):
    """A flash group ending in two hours with three members."""
    end = timezone.now() + timedelta(hours=2)
    group = group_create(
        name="618秒杀群", purpose=GroupPurpose.FLASH_SALE, expires_at=end, capacity=10
    )
    members = [make_member() for _ in range(3)]
    seat(group, *members)
    return group, members


def test_members_are_told_once_within_the_notice_window(flash, settings):
    settings.SCRM_GROUP_DISSOLVE_NOTICE_HOURS = 1
    group, members = flash
    assert flash_groups_notify_due() == 0  # two hours before: not yet
    soon = group.expires_at - timedelta(minutes=30)
    assert flash_groups_notify_due(now=soon) == 1
    assert flash_groups_notify_due(now=soon + timedelta(minutes=1)) == 0
    told = Event.objects.filter(kind=GroupEventKind.DISSOLVING)
    assert sorted(told.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert told.first().data == {
        "group_id": group.pk,
        "code_id": None,
        "expires_at": group.expires_at.isoformat(),
    }


def test_the_group_dissolves_at_its_end_and_only_once(flash):
    group, members = flash
    assert flash_groups_dissolve_due(now=group.expires_at - timedelta(seconds=1)) == 0
    late = group.expires_at + timedelta(minutes=3)
    assert flash_groups_dissolve_due(now=late) == 1
    assert flash_groups_dissolve_due(now=late) == 0
    group.refresh_from_db()
    assert group.status == GroupStatus.DISSOLVED
    assert group.dissolve_reason == DissolveReason.EXPIRED
    assert group.dissolved_at == group.expires_at  # its life ended on time, not when the job ran
    assert not GroupMembership.objects.filter(group=group, left_at__isnull=True).exists()
    stays = GroupMembership.objects.filter(group=group)
    assert set(stays.values_list("left_reason", flat=True)) == {LeaveReason.DISSOLVED}
    assert Event.objects.filter(kind=GroupEventKind.DISSOLVED).count() == 3
    assert not Event.objects.filter(kind=GroupEventKind.LEFT).exists()


def test_the_sales_report_counts_orders_paid_while_in_the_group(make_member, seat, pay):
    now = timezone.now()
    end = now + timedelta(minutes=1)
    group = group_create(name="秒杀群", purpose=GroupPurpose.FLASH_SALE, expires_at=end)
    a, b, c = make_member(), make_member(), make_member()
    joined = now - timedelta(hours=3)
    seat(group, a, b, c, now=joined)
    pay(a, "100", paid_at=joined - timedelta(minutes=1))  # before joining: not the group's
    pay(a, "200", paid_at=joined + timedelta(minutes=1))
    pay(a, "50", paid_at=joined + timedelta(minutes=2))
    pay(b, "80", paid_at=joined + timedelta(minutes=1))
    pay(b, "999", paid_at=end + timedelta(minutes=5))  # after the end
    pay(make_member(), "500", paid_at=joined + timedelta(minutes=1))  # not a member
    refunded = pay(c, "300", paid_at=joined + timedelta(minutes=1))
    from members.services.orders import order_refund

    order_refund(order=refunded)
    flash_groups_dissolve_due(now=end + timedelta(minutes=6))
    group.refresh_from_db()
    assert (group.sales_orders, group.sales_buyers, group.sales_revenue) == (3, 2, Decimal("330"))
    event = Event.objects.filter(kind=GroupEventKind.DISSOLVED, member=a).get()
    assert event.data == {
        "group_id": group.pk,
        "code_id": None,
        "reason": "expired",
        "orders": 3,
        "revenue": "330.00",
    }


def test_staff_may_dissolve_any_group_once(make_group, make_member, seat):
    group = seat(make_group(), make_member())
    assert group_dissolve(group=group) is True
    assert group_dissolve(group=group) is False
    group.refresh_from_db()
    assert group.dissolve_reason == DissolveReason.STAFF
    assert group.member_count == 1  # the size it had at the end
    with pytest.raises(ValidationError):
        group_update(group=group, name="复活")
    with pytest.raises(ValidationError):
        group_members_add(group=group, members=Member.objects.all())


def test_a_flash_group_needs_an_end_in_the_future():
    with pytest.raises(ValidationError) as exc:
        group_create(name="秒杀", purpose=GroupPurpose.FLASH_SALE)
    assert "expires_at" in exc.value.message_dict
    with pytest.raises(ValidationError):
        group_create(
            name="秒杀",
            purpose=GroupPurpose.FLASH_SALE,
            expires_at=timezone.now() - timedelta(minutes=1),
        )
