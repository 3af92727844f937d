"""What the channels keep about a member follows them through erasure, data copies and merges;
the guide task list costs the same queries for any number of tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from campaigns.models import GuideTask, MiniProgramSubscription, SmsReply, SubscriptionSpend
from campaigns.services.sms_replies import InboundSms, sms_replies_receive
from campaigns.services.subscriptions import subscriptions_accept, subscriptions_spend
from members.services.members import member_merge
from members.services.privacy import member_data_copy, member_erase
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db


def test_erasure_removes_tasks_subscriptions_and_opt_outs_and_the_copy_shows_them():
    guide = factories.GuideFactory()
    (member,) = members_with_consent(
        1, "wecom", guide=guide, wecom_external_userid="wm-1", openid="o-1"
    )
    launch(campaign_on("wecom", body="{{ member_name }}，会员日见"))
    run_all()
    subscriptions_accept(member=member, template_ids=["t1", "t1"])
    subscriptions_spend(spends=[("k1", member.pk, "t1")])
    sms_replies_receive(replies=[InboundSms(reply_id="r1", phone=member.phone, content="TD")])

    copy = member_data_copy(member=member)
    assert copy["guide_tasks"][0]["message"] == f"{member.name}，会员日见"
    assert copy["miniprogram_subscriptions"] == [{"template_id": "t1", "left": 0}]
    assert copy["sms_replies"][0]["reply"] == "TD"

    counts = member_erase(member=member)
    assert counts["guide_tasks"] == 1 and counts["sms_replies"] == 1
    assert counts["miniprogram_subscriptions"] == 2  # the count and the spend
    for model in (GuideTask, MiniProgramSubscription, SubscriptionSpend, SmsReply):
        assert not model.objects.exists()


def test_subscriptions_follow_the_open_id_in_a_merge():
    survivor = factories.MemberFactory(openid=None)
    merged = factories.MemberFactory(openid="o-merged")
    subscriptions_accept(member=merged, template_ids=["t1"])
    member_merge(survivor=survivor, merged=merged)
    assert MiniProgramSubscription.objects.get().member_id == survivor.pk

    keeps_own = factories.MemberFactory(openid="o-own")
    other = factories.MemberFactory(openid="o-other")
    subscriptions_accept(member=other, template_ids=["t2"])
    member_merge(survivor=keeps_own, merged=other)
    assert MiniProgramSubscription.objects.get(template_id="t2").member_id == other.pk


def test_the_guide_task_list_has_no_n_plus_one(django_assert_num_queries):
    guide = factories.GuideFactory()
    client = APIClient()
    client.force_authenticate(guide.user)
    members_with_consent(1, "wecom", guide=guide, wecom_external_userid="wm-0")
    launch(campaign_on("wecom"))
    run_all()
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/guide-tasks/").json()["results"]) == 1
    for n in range(1, 6):
        members_with_consent(1, "wecom", guide=guide, wecom_external_userid=f"wm-{n}")
    launch(campaign_on("wecom"))
    run_all(now=NOON + timedelta(days=3))
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/v1/guide-tasks/").json()["results"]) == 7


def test_erasure_reaches_replies_from_the_members_phone_and_their_merged_records():
    member, merged = factories.MemberFactory(), factories.MemberFactory()
    guide = factories.GuideFactory()
    (old,) = members_with_consent(1, "wecom", guide=guide, wecom_external_userid="wm-old")
    launch(campaign_on("wecom"))
    run_all()
    member_merge(survivor=member, merged=old)
    # A reply that arrived before the number was anyone's: kept without a member.
    SmsReply.objects.create(reply_id="r-unknown", phone=member.phone, content="TD")
    SmsReply.objects.create(reply_id="r-other", phone="+8613000000000", content="TD")
    assert merged.pk and GuideTask.objects.filter(member=old).exists()

    counts = member_erase(member=member)

    assert counts["sms_replies"] == 1 and counts["guide_tasks"] == 1
    assert list(SmsReply.objects.values_list("reply_id", flat=True)) == ["r-other"]
    assert not GuideTask.objects.exists()
