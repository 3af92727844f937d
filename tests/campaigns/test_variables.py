"""Variables other apps provide to campaign content: the member's own referral link."""

from __future__ import annotations

import pytest

from referrals.models import ReferralCode
from referrals.services.codes import referral_code_for_member, referral_link
from tests.campaigns.helpers import campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db


def test_each_member_gets_their_own_referral_link_made_on_first_use(channel):
    has_one, new = members_with_consent(2, "sms")
    existing = referral_code_for_member(member=has_one)
    launch(campaign_on("recording", body="邀请好友：{{ referral_link }}"))
    run_all()
    made = ReferralCode.objects.get(member=new)
    bodies = {m.member_id: m.body for m in channel.sent}
    assert bodies == {
        has_one.pk: f"邀请好友：{referral_link(existing)}",
        new.pk: f"邀请好友：{referral_link(made)}",
    }
    assert ReferralCode.objects.filter(member=has_one).count() == 1


def test_a_resend_quotes_the_same_code(channel):
    from campaigns.models import Touchpoint, TouchpointState
    from campaigns.services.dispatch import touchpoints_send
    from tests.campaigns.helpers import NOON

    (member,) = members_with_consent(1, "sms")
    launch(campaign_on("recording", body="{{ referral_code }}"))
    run_all()
    touchpoint = Touchpoint.objects.get()
    Touchpoint.objects.filter(pk=touchpoint.pk).update(state=TouchpointState.SENDING)
    touchpoints_send(ids=[touchpoint.pk], now=NOON)
    assert (
        channel.sent[0].body == channel.sent[1].body == ReferralCode.objects.get(member=member).code
    )
