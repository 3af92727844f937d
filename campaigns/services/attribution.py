"""Conversion attribution: which contact an order is credited to.

Last touch: a paid order is credited to the member's most recent *sent* touchpoint whose
campaign's attribution window (days after the send) still covers the order, unless that
touchpoint already has an earlier order to its name. The credit carries the order's revenue
and margin and is withdrawn if the order is refunded.

For the holdout comparison (docs/campaigns.md, "Results"), rows that were not sent — held out,
or skipped for consent, caps or identity, or failed — record the member's first paid order in
the window after the row was due. They earn no revenue credit; they only tell how often
members buy with and without the message.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F

from campaigns.models import SkipReason, Touchpoint, TouchpointState
from members.choices import OrderStatus
from members.models import Order

# The longest window a campaign may set (campaigns.services.campaigns checks 1 to 90 days).
MAX_WINDOW_DAYS = 90
# Unsent rows that take part in the comparison: the member was in the audience but got no
# message. Rows stopped with their campaign, of erased members, or of members who left a
# journey by buying are out of it.
MEASURED_SKIPS = (
    SkipReason.HOLDOUT,
    SkipReason.NO_CONSENT,
    SkipReason.FREQUENCY_CAP,
    SkipReason.NO_IDENTITY,
    SkipReason.NO_SUBSCRIPTION,
    SkipReason.NO_COUPON,
)


@transaction.atomic
def order_attribute(*, order_id: int) -> Touchpoint | None:
    """Credit a paid order to its last touch and mark the member's unsent rows that it
    converts; returns the credited touchpoint, if any. Running it again changes nothing."""
    order = Order.objects.filter(pk=order_id, status=OrderStatus.PAID).first()
    if order is None:
        return None
    paid_at = order.paid_at
    since = paid_at - timedelta(days=MAX_WINDOW_DAYS)
    credit = {
        "order_id": order.pk,
        "converted_at": paid_at,
        "revenue": order.paid_amount,
        "margin": order.gross_margin,
    }

    unsent = Touchpoint.objects.filter(
        member_id=order.member_id,
        converted_at__isnull=True,
        send_after__lte=paid_at,
        send_after__gte=since,
    ).filter(
        state__in=[TouchpointState.SKIPPED, TouchpointState.FAILED],
    )
    measured = [
        pk
        for pk, state, reason, due, days in unsent.values_list(
            "pk", "state", "skip_reason", "send_after", "campaign__attribution_days"
        )
        if (state == TouchpointState.FAILED or reason in MEASURED_SKIPS)
        and due >= paid_at - timedelta(days=days)
    ]
    if measured:
        Touchpoint.objects.filter(pk__in=measured, converted_at__isnull=True).update(**credit)

    if Touchpoint.objects.filter(order_id=order.pk, state=TouchpointState.SENT).exists():
        return None  # credited before (a redelivered event)
    touches = (
        Touchpoint.objects.filter(
            member_id=order.member_id,
            state=TouchpointState.SENT,
            sent_at__lte=paid_at,
            sent_at__gte=since,
        )
        .annotate(window=F("campaign__attribution_days"))
        .order_by("-sent_at", "-pk")
        .values_list("pk", "sent_at", "window", "converted_at")
    )
    for pk, sent_at, window, converted_at in touches:
        if sent_at < paid_at - timedelta(days=window):
            continue  # this campaign's window has closed; an older touch may still cover it
        if converted_at is not None:
            return None  # the last touch already converted: later orders are repeat business
        Touchpoint.objects.filter(pk=pk, converted_at__isnull=True).update(**credit)
        return Touchpoint.objects.get(pk=pk)
    return None


def order_unattribute(*, order_id: int) -> int:
    """A refunded order no longer counts as anyone's conversion; returns the rows cleared."""
    return Touchpoint.objects.filter(order_id=order_id).update(
        order=None, converted_at=None, revenue=0, margin=0
    )
