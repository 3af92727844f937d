"""Previewing a campaign's messages for a sample member: the same text the dispatcher sends,
a sample coupon code when the campaign offers a coupon, samples without a member."""

from __future__ import annotations

import pytest

from campaigns.content import TemplateVariable, template_variable_register
from campaigns.content import _variables as variable_registry
from campaigns.services.campaigns import campaign_create
from campaigns.services.preview import campaign_preview
from tests import factories
from tests.campaigns.helpers import campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db

BODY = "{{ member_name }}您好，{{ guide_name }}在{{ store_name }}等您。券码 {{ coupon_code }}"


@pytest.fixture
def shopper():
    store = factories.StoreFactory(name="静安店")
    guide = factories.GuideFactory(store=store, name="李导购")
    (member,) = members_with_consent(1, "sms", name="王小明", home_store=store, guide=guide)
    return member


def test_preview_renders_what_the_dispatcher_sends(channel, shopper):
    campaign = campaign_on(
        "recording",
        subject="{{ member_name }}的专属礼",
        body=BODY,
        options={"fields": {"thing1": "{{ store_name }}", "name2": "{{ member_name }}"}},
    )
    (preview,) = campaign_preview(campaign=campaign, member=shopper)
    launch(campaign)
    run_all()
    (sent,) = channel.sent
    assert (preview.subject, preview.body, preview.fields) == (sent.subject, sent.body, sent.fields)
    assert preview.body == "王小明您好，李导购在静安店等您。券码 "
    assert preview.fields == {"thing1": "静安店", "name2": "王小明"}


def test_a_campaign_offering_a_coupon_shows_a_sample_code(shopper):
    campaign = campaign_on("console", body=BODY, coupon_template=factories.CouponTemplateFactory())
    (preview,) = campaign_preview(campaign=campaign, member=shopper)
    assert preview.body.endswith("券码 CP8K2M4Q")


def test_a_member_without_guide_or_store_gets_empty_names():
    member = factories.MemberFactory(name="赵六", home_store=None)
    campaign = campaign_on("console", body="{{ member_name }}|{{ guide_name }}|{{ store_name }}")
    (preview,) = campaign_preview(campaign=campaign, member=member)
    assert preview.body == "赵六||"


def test_without_a_member_every_variable_shows_its_sample():
    campaign = campaign_on("console", body=BODY)
    (preview,) = campaign_preview(campaign=campaign)
    # No coupon offered: the real message would carry none either.
    assert preview.body == "王小明您好，李导购在上海静安店等您。券码 "


def test_variables_other_apps_register_are_resolved_for_the_member(shopper):
    calls = []

    def resolve(member_ids):
        calls.append(list(member_ids))
        return {member_id: f"VIP-{member_id}" for member_id in member_ids}

    template_variable_register(TemplateVariable("vip_code", "VIP code", "VIP-0", resolver=resolve))
    try:
        campaign = campaign_on("console", body="您的会员码 {{ vip_code }}")
        (preview,) = campaign_preview(campaign=campaign, member=shopper)
        (sample,) = campaign_preview(campaign=campaign)
    finally:
        variable_registry.pop("vip_code", None)
    assert preview.body == f"您的会员码 VIP-{shopper.pk}"
    assert calls == [[shopper.pk]]
    assert sample.body == "您的会员码 VIP-0"


def test_every_step_and_variant_in_order_or_just_the_one_asked_for(shopper):
    campaign = campaign_create(
        name="Welcome",
        kind="journey",
        channel="console",
        entry_event="member.created",
        variants={"A": 50, "B": 50},
        steps=[
            {"delay_days": 0, "contents": {"A": {"body": "欢迎A"}, "B": {"body": "欢迎B"}}},
            {"delay_days": 3, "contents": {"A": {"body": "小贴士A"}, "B": {"body": "小贴士B"}}},
        ],
    )
    rendered = campaign_preview(campaign=campaign, member=shopper)
    assert [(m.step, m.delay_days, m.variant, m.body) for m in rendered] == [
        (0, 0, "A", "欢迎A"),
        (0, 0, "B", "欢迎B"),
        (1, 3, "A", "小贴士A"),
        (1, 3, "B", "小贴士B"),
    ]
    (one,) = campaign_preview(campaign=campaign, member=shopper, step=1, variant="B")
    assert one.body == "小贴士B"
