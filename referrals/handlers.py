"""Event handlers: how referrals react to members' facts (registered in ReferralsConfig.ready).

They run in a Celery worker after the fact's transaction committed, and may run twice (a
redelivered task): every service they call is idempotent by unique keys and status checks.
"""

from __future__ import annotations

from members.models import Event
from referrals.models import Referral
from referrals.services.orders import referral_order_paid, referral_order_refunded
from referrals.services.stats import referrer_stats_refresh


def on_order_paid(event: Event) -> None:
    order_id = event.data.get("order_id")
    if order_id:
        referral_order_paid(order_id=order_id)


def on_order_refunded(event: Event) -> None:
    order_id = event.data.get("order_id")
    if order_id:
        referral_order_refunded(order_id=order_id)


def on_member_erased(event: Event) -> None:
    """The erased member's purchases no longer count as their referrer's invitees' revenue."""
    referrer_ids = Referral.objects.filter(referee_id=event.member_id).values_list(
        "referrer_id", flat=True
    )
    referrer_stats_refresh(member_ids=list(referrer_ids))
