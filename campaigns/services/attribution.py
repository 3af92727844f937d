"""Conversion attribution: which contact an order is credited to, and who bought at all.

Last touch: a paid order is credited to the member's most recent *sent* touchpoint whose
campaign's attribution window (days after the send) still covers the order, unless that
touchpoint already has an earlier order to its name. The credit (``order``, ``converted_at``,
``revenue``, ``margin``) carries the order's revenue and margin and is withdrawn if the order
is refunded.

For the holdout comparison (docs/campaigns.md, "Results"), every row that takes part —
sent, failed, held out, or skipped for consent, caps, identity, subscription or coupons —
records the member's first paid order in the window after it was sent (or due, when it was
not sent) in ``bought_at`` / ``bought_order``, whichever campaign got the credit. Comparing
the holdout with the rest on that measure is fair: a member credited to another campaign's
later message still bought.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

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


def _mark_bought(order: Order) -> int:
    """Record ``order`` on the member's measured rows whose window it falls in and that have
    no earlier purchase recorded; returns how many."""
    paid_at = order.paid_at
    since = paid_at - timedelta(days=MAX_WINDOW_DAYS)
    candidates = (
        Touchpoint.objects.filter(member_id=order.member_id, bought_at__isnull=True)
        .filter(state__in=[TouchpointState.SENT, TouchpointState.FAILED, TouchpointState.SKIPPED])
        .annotate(reference=Coalesce("sent_at", "send_after"))
        .filter(reference__lte=paid_at, reference__gte=since)
        .values_list("pk", "state", "skip_reason", "reference", "campaign__attribution_days")
    )
    measured = [
        pk
        for pk, state, reason, reference, days in candidates
        if (state != TouchpointState.SKIPPED or reason in MEASURED_SKIPS)
        and reference >= paid_at - timedelta(days=days)
    ]
    if not measured:
        return 0
    return Touchpoint.objects.filter(pk__in=measured, bought_at__isnull=True).update(
        bought_at=paid_at, bought_order_id=order.pk
    )


@transaction.atomic
def order_attribute(*, order_id: int) -> Touchpoint | None:
    """Credit a paid order to its last touch and record it on the member's measured rows;
    returns the credited touchpoint, if any. Running it again changes nothing."""
    order = Order.objects.filter(pk=order_id, status=OrderStatus.PAID).first()
    if order is None:
        return None
    _mark_bought(order)
    paid_at = order.paid_at
    if Touchpoint.objects.filter(
        member_id=order.member_id, order_id=order.pk, state=TouchpointState.SENT
    ).exists():
        return None  # credited before (a redelivered event)
    touches = (
        Touchpoint.objects.filter(
            member_id=order.member_id,
            state=TouchpointState.SENT,
            sent_at__lte=paid_at,
            sent_at__gte=paid_at - timedelta(days=MAX_WINDOW_DAYS),
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
        Touchpoint.objects.filter(pk=pk, converted_at__isnull=True).update(
            order_id=order.pk,
            converted_at=paid_at,
            revenue=order.paid_amount,
            margin=order.gross_margin,
        )
        return Touchpoint.objects.get(pk=pk)
    return None


def order_unattribute(*, order_id: int) -> int:
    """A refunded order no longer counts as anyone's conversion or purchase; returns the rows
    changed. (Scoped to the member: the outbox's order columns carry no index.)"""
    member_id = Order.objects.filter(pk=order_id).values_list("member_id", flat=True).first()
    if member_id is None:
        return 0
    mine = Touchpoint.objects.filter(member_id=member_id)
    credited = mine.filter(order_id=order_id).update(
        order=None, converted_at=None, revenue=0, margin=0
    )
    bought = mine.filter(bought_order_id=order_id).update(bought_order=None, bought_at=None)
    return credited + bought
