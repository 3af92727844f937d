"""A campaign that offers a coupon issues one per message, once; orders after a message are
credited to it (last touch) with their revenue and margin, and the holdout's orders are
recorded for the comparison."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.models import SkipReason, Touchpoint, TouchpointState
from campaigns.services.attribution import order_attribute, order_unattribute
from campaigns.services.dispatch import touchpoints_send
from members.models import Coupon
from members.services.orders import order_refund, order_upsert
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db


def test_each_message_carries_its_own_coupon_code(channel):
    template = factories.CouponTemplateFactory()
    members = members_with_consent(3, "sms")
    launch(campaign_on("recording", body="券码 {{ coupon_code }}", coupon_template=template))
    run_all()
    coupons = {c.member_id: c.code for c in Coupon.objects.filter(template=template)}
    assert len(coupons) == 3
    assert sorted(m.body for m in channel.sent) == sorted(f"券码 {coupons[m.pk]}" for m in members)
    for touchpoint in Touchpoint.objects.all():
        assert touchpoint.coupon.code == coupons[touchpoint.member_id]
    template.refresh_from_db()
    assert template.issued_count == 3


def test_a_resent_touchpoint_quotes_the_same_coupon(channel):
    template = factories.CouponTemplateFactory()
    (member,) = members_with_consent(1, "sms")
    launch(campaign_on("recording", body="{{ coupon_code }}", coupon_template=template))
    run_all()
    touchpoint = Touchpoint.objects.get()
    # A crash after the send: the row is claimed again and sent a second time.
    Touchpoint.objects.filter(pk=touchpoint.pk).update(state=TouchpointState.SENDING)
    touchpoints_send(ids=[touchpoint.pk], now=NOON)
    assert Coupon.objects.filter(member=member).count() == 1
    assert channel.sent[0].body == channel.sent[1].body


def test_when_the_coupons_run_out_the_rest_are_skipped_not_sent_without_a_code(channel):
    template = factories.CouponTemplateFactory(total_quantity=2)
    members_with_consent(3, "sms")
    launch(campaign_on("recording", body="{{ coupon_code }}", coupon_template=template))
    run_all()
    states = sorted(Touchpoint.objects.values_list("state", "skip_reason"))
    assert states == [
        (TouchpointState.SENT, ""),
        (TouchpointState.SENT, ""),
        (TouchpointState.SKIPPED, SkipReason.NO_COUPON),
    ]
    assert all(m.body for m in channel.sent)


# --- attribution -----------------------------------------------------------------------------


def _order(member, hours_after: float, amount="120.00", margin="50.00", ref="A"):
    order, _ = order_upsert(
        source="pos",
        external_id=f"{ref}-{member.pk}-{hours_after}",
        member=member,
        paid_amount=amount,
        gross_margin=margin,
        paid_at=NOON + timedelta(hours=hours_after),
    )
    return order


def _sent_campaign(channel, **fields):
    campaign = launch(campaign_on("recording", **fields))
    run_all()
    return campaign


def test_an_order_in_the_window_is_credited_to_the_last_message(channel):
    (member,) = members_with_consent(1, "sms")
    first = _sent_campaign(channel, attribution_days=7)
    later = NOON + timedelta(days=1, hours=1)  # past the one-a-day frequency cap
    second = launch(campaign_on("recording", send_at=later))
    run_all(now=later)
    order = _order(member, 30)

    credited = order_attribute(order_id=order.pk)

    assert credited.campaign_id == second.pk
    assert (credited.revenue, credited.margin) == (Decimal("120.00"), Decimal("50.00"))
    assert Touchpoint.objects.get(campaign=first).converted_at is None
    assert order_attribute(order_id=order.pk) is None  # a redelivered event: no second credit
    assert Touchpoint.objects.filter(order=order).count() == 1


def test_an_order_after_the_window_is_nobodys(channel):
    (member,) = members_with_consent(1, "sms")
    _sent_campaign(channel, attribution_days=3)
    order = _order(member, 24 * 4)
    assert order_attribute(order_id=order.pk) is None
    assert not Touchpoint.objects.filter(converted_at__isnull=False).exists()


def test_only_the_first_order_after_a_message_converts_it(channel):
    (member,) = members_with_consent(1, "sms")
    _sent_campaign(channel)
    first, second = _order(member, 5, amount="80.00"), _order(member, 9, amount="300.00")
    order_attribute(order_id=first.pk)
    order_attribute(order_id=second.pk)
    touchpoint = Touchpoint.objects.get()
    assert (touchpoint.order_id, touchpoint.revenue) == (first.pk, Decimal("80.00"))


def test_a_refund_withdraws_the_credit(channel):
    (member,) = members_with_consent(1, "sms")
    _sent_campaign(channel)
    order = _order(member, 5)
    order_attribute(order_id=order.pk)
    order_refund(order=order)
    order_unattribute(order_id=order.pk)
    touchpoint = Touchpoint.objects.get()
    assert (touchpoint.order_id, touchpoint.converted_at, touchpoint.revenue) == (
        None,
        None,
        Decimal("0"),
    )
    assert touchpoint.bought_at is None


def test_the_holdout_records_its_orders_without_earning_credit(channel):
    members = members_with_consent(40, "sms")
    _sent_campaign(channel, holdout_percent=50)
    held = Touchpoint.objects.filter(skip_reason=SkipReason.HOLDOUT).first()
    sent = Touchpoint.objects.filter(state=TouchpointState.SENT).first()
    assert held is not None and sent is not None
    by_pk = {m.pk: m for m in members}
    for touchpoint in (held, sent):
        order = _order(by_pk[touchpoint.member_id], 2)
        order_attribute(order_id=order.pk)
    held.refresh_from_db()
    sent.refresh_from_db()
    assert held.bought_at is not None and held.state == TouchpointState.SKIPPED
    assert (held.order_id, held.revenue) == (None, Decimal("0"))  # measured, never credited
    assert sent.bought_at is not None and sent.converted_at is not None


def test_a_purchase_credited_to_a_later_message_still_counts_for_the_earlier_comparison(
    channel,
):
    (member,) = members_with_consent(1, "sms")
    first = _sent_campaign(channel, attribution_days=7)
    later = NOON + timedelta(days=1, hours=1)
    second = launch(campaign_on("recording", send_at=later))
    run_all(now=later)
    order = _order(member, 30)
    order_attribute(order_id=order.pk)
    earlier, credited = (Touchpoint.objects.get(campaign=c) for c in (first, second))
    assert (credited.order_id, earlier.order_id) == (order.pk, None)
    assert earlier.bought_at == credited.bought_at == order.paid_at


def test_orders_reach_attribution_through_the_event_log(
    channel, django_capture_on_commit_callbacks
):
    from members.events import EventKind, events_dispatch_now
    from members.models import Event

    (member,) = members_with_consent(1, "sms")
    _sent_campaign(channel)
    order = _order(member, 3)
    event = Event.objects.get(kind=EventKind.ORDER_PAID, member=member)
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch_now(event_ids=[event.pk])
    assert Touchpoint.objects.get().order_id == order.pk
