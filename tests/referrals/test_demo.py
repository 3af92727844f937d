"""The referral demo loaded by `make run` goes through the real services."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from members.models import Event
from referrals.choices import RewardStatus
from referrals.models import FissionProgress, Programme, Referral, Reward

pytestmark = pytest.mark.django_db


def test_referral_demo_on_top_of_the_members_demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--members", "30", "--no-progress")
    call_command("seed_referrals_demo")
    assert Programme.objects.filter(is_active=True).count() == 1
    assert Referral.objects.count() == 150
    assert Reward.objects.filter(status=RewardStatus.GRANTED).exists()
    assert Reward.objects.filter(status=RewardStatus.HELD).exists()
    assert FissionProgress.objects.exists()
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    call_command("seed_referrals_demo")  # once only
    assert Referral.objects.count() == 150


def test_referral_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_referrals_demo")
