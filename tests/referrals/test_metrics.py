"""Programme metrics: referral rate (荐新率) and k-factor."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from referrals.metrics import programme_metrics

pytestmark = pytest.mark.django_db


def test_referral_rate_and_k_factor(make_member, refer, pay, programme):
    programme.starts_at = timezone.now() - timedelta(days=1)
    programme.save()
    # Four active members (a paid order this year); two of them bring friends.
    active = [make_member() for _ in range(4)]
    for member in active:
        pay(member, "20")
    bringer, signup_only = active[0], active[1]
    buyers = [make_member(), make_member()]
    for friend in buyers:
        refer(friend, bringer)
    refer(make_member(), signup_only)  # signs up, never buys
    for friend in buyers:
        pay(friend, "150")
    metrics = programme_metrics(programme, until=timezone.now() + timedelta(seconds=1))
    # Active members now: the four plus the two new buyers.
    assert metrics.active_members == 6
    assert metrics.signups == 3 and metrics.new_buyers == 2
    assert metrics.referrers_with_new_buyer == 1
    assert metrics.referral_rate == round(1 / 6, 4)
    assert metrics.k_factor == round(2 / 6, 4)
    assert metrics.k_factor_signups == round(3 / 6, 4)
    assert metrics.revenue == Decimal("300.00")
