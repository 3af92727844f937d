"""The guide workspace, as a guide on a phone uses it: today's messages to send, the store's
customers (phones masked), tagging a customer in two taps, and their own referral code."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import GuideTask, GuideTaskStatus
from members.choices import TagSource
from members.events import EventKind
from members.models import AuditLog, Event, Member, MemberTag
from members.services.segments import tag_rule_set
from members.services.tags import members_tag
from referrals.models import ReferralCode
from tests import factories
from tests.campaigns.helpers import campaign_on, launch, members_with_consent, run_all
from workspace import selectors

pytestmark = pytest.mark.django_db

TODAY = reverse("workspace:today")
CUSTOMERS = reverse("workspace:customers")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def customer_url(member) -> str:
    return reverse("workspace:customer", args=[member.pk])


def tag_url(member, tag) -> str:
    return reverse("workspace:customer-tag", args=[member.pk, tag.pk])


@pytest.fixture
def phone(guide_admin):
    """The guide's phone browser: signed in, with the Shop guides role (the same session
    as the admin's)."""
    return guide_admin


def page(client, url, **query) -> str:
    response = client.get(url, query, **EN)
    assert response.status_code == 200
    return response.content.decode()


# --- who gets in ------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in_and_come_back():
    response = Client().get(CUSTOMERS)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={CUSTOMERS}"


def test_operators_and_inactive_guides_are_told_it_is_not_theirs(operator, guide):
    client = Client()
    client.force_login(operator)
    response = client.get(TODAY, **EN)
    assert response.status_code == 403
    assert "for active shop guides" in response.content.decode()
    assert reverse("admin:index") in response.content.decode()

    guide.is_active = False
    guide.save()
    client.force_login(guide.user)
    assert client.get(CUSTOMERS).status_code == 403


# --- today's messages -------------------------------------------------------------------------


def test_a_campaign_message_reaches_the_guide_and_is_marked_sent_once(phone, guide):
    (customer,) = members_with_consent(
        1, "wecom", guide=guide, home_store=guide.store, wecom_external_userid=f"wm-{uuid.uuid4()}"
    )
    launch(campaign_on("wecom", body="{{ member_name }}，会员日到店有礼！"))
    run_all()
    task = GuideTask.objects.get()

    html = page(phone, TODAY)
    assert f"{customer.name}，会员日到店有礼！" in html
    assert "Member day" in html and 'class="badge">1<' in html

    other = Client()
    other.force_login(factories.GuideFactory(store=guide.store).user)
    confirm = reverse("workspace:task-confirm", args=[task.pk])
    assert other.post(confirm).status_code == 404
    assert phone.get(confirm).status_code == 405

    response = phone.post(confirm, follow=True, **EN)
    assert "Marked as sent." in response.content.decode()
    task.refresh_from_db()
    first = task.confirmed_at
    assert task.status == GuideTaskStatus.CONFIRMED and first
    phone.post(confirm)
    task.refresh_from_db()
    assert task.confirmed_at == first
    assert "Nothing to send right now." in page(phone, TODAY)


def test_an_expired_task_cannot_be_marked_sent(phone, guide):
    members_with_consent(
        1, "wecom", guide=guide, home_store=guide.store, wecom_external_userid=f"wm-{uuid.uuid4()}"
    )
    launch(campaign_on("wecom"))
    run_all()
    task = GuideTask.objects.get()
    GuideTask.objects.filter(pk=task.pk).update(status=GuideTaskStatus.EXPIRED)
    response = phone.post(reverse("workspace:task-confirm", args=[task.pk]), follow=True, **EN)
    assert "This task has expired." in response.content.decode()
    assert GuideTask.objects.get().status == GuideTaskStatus.EXPIRED


# --- customers ------------------------------------------------------------------------------


def test_the_guide_sees_only_their_stores_customers_with_phones_masked(phone, guide, other_store):
    ours = factories.MemberFactory(name="王小美", phone="+8613812345678", home_store=guide.store)
    theirs = factories.MemberFactory(name="李四", home_store=other_store)
    html = page(phone, CUSTOMERS)
    assert "王小美" in html and "138****5678" in html
    assert "13812345678" not in html and "李四" not in html

    html = page(phone, customer_url(ours))
    assert "138****5678" in html and "13812345678" not in html
    assert phone.get(customer_url(theirs)).status_code == 404
    assert not AuditLog.objects.exists()


def test_search_finds_by_last_four_digits_name_and_full_phone(phone, guide):
    store = guide.store
    a = factories.MemberFactory(name="张三丰", phone="+8613900001111", home_store=store)
    b = factories.MemberFactory(name="赵敏", phone="+8613900002222", home_store=store)
    for term, found, missing in (
        ("1111", a, b),
        ("赵敏", b, a),
        ("139 0000 2222", b, a),
    ):
        html = page(phone, CUSTOMERS, q=term)
        assert found.name in html and missing.name not in html, term
    assert "No customer matches." in page(phone, CUSTOMERS, q="9999")


def test_mine_only_and_paging_by_id(phone, guide, monkeypatch):
    monkeypatch.setattr(selectors, "CUSTOMERS_PAGE", 2)
    mine = [
        factories.MemberFactory(name=f"我的{i}", home_store=guide.store, guide=guide)
        for i in range(3)
    ]
    factories.MemberFactory(name="同店别人", home_store=guide.store)
    html = page(phone, CUSTOMERS, mine="1")
    assert "我的2" in html and "我的1" in html and "我的0" not in html
    assert "同店别人" not in html
    assert f"before={mine[1].pk}" in html
    html = page(phone, CUSTOMERS, mine="1", before=str(mine[1].pk))
    assert "我的0" in html and "我的1" not in html and "before=" not in html


def test_the_list_costs_the_same_few_queries_for_many_customers(phone, guide):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(phone, CUSTOMERS)
        return len(captured)

    def add_customers(n):
        for _ in range(n):
            member = factories.MemberFactory(home_store=guide.store)
            MemberTag.objects.create(member=member, tag=factories.TagFactory())

    add_customers(2)
    few = queries()
    add_customers(28)
    # session, user, guide and store, permissions, the tasks badge, members, their tags
    assert queries() == few <= 10


def test_a_guide_allowed_to_unmask_sees_full_phones_and_it_is_audited(phone, guide):
    guide.user.user_permissions.add(
        Permission.objects.get(codename="view_unmasked_phone", content_type__app_label="members")
    )
    member = factories.MemberFactory(phone="+8613812345678", home_store=guide.store)
    assert "+8613812345678" in page(phone, customer_url(member))
    log = AuditLog.objects.get()
    assert log.actor == guide.user and log.data["where"] == "workspace.customer"
    assert log.data["members"] == [member.pk]


# --- tagging in two taps ----------------------------------------------------------------------


def test_one_tap_tags_and_another_takes_it_off(phone, guide):
    member = factories.MemberFactory(home_store=guide.store)
    group = factories.TagGroupFactory(name="肤质", multi_select=True)
    tag = factories.TagFactory(group=group, name="敏感肌")
    html = page(phone, customer_url(member))
    assert tag_url(member, tag) in html and 'aria-pressed="false"' in html

    response = phone.post(tag_url(member, tag), follow=True, **EN)
    assert response.redirect_chain[-1][0] == customer_url(member) + "#tags"
    assert "Tagged “敏感肌”." in response.content.decode()
    row = MemberTag.objects.get(member=member, tag=tag)
    assert (row.source, row.tagged_by) == (TagSource.MANUAL, guide.user)
    assert Event.objects.filter(member=member, kind=EventKind.TAGGED).exists()
    assert 'aria-pressed="true"' in page(phone, customer_url(member))

    phone.post(tag_url(member, tag))
    assert not MemberTag.objects.filter(member=member).exists()
    assert Event.objects.filter(member=member, kind=EventKind.UNTAGGED).exists()


def test_a_single_choice_group_swaps_its_tag(phone, guide):
    member = factories.MemberFactory(home_store=guide.store)
    group = factories.TagGroupFactory(name="价值层", multi_select=False)
    high, low = (factories.TagFactory(group=group, name=n) for n in ("高", "低"))
    phone.post(tag_url(member, high))
    phone.post(tag_url(member, low))
    assert list(MemberTag.objects.filter(member=member).values_list("tag", flat=True)) == [low.pk]


def test_rule_tags_and_other_stores_cannot_be_tapped(phone, guide, other_store):
    member = factories.MemberFactory(home_store=guide.store)
    rule_tag = tag_rule_set(
        tag=factories.TagFactory(name="抖音粉"),
        tree={"all": [{"field": "source", "op": "in", "value": ["douyin"]}]},
    )
    html = page(phone, customer_url(member))
    assert "抖音粉" in html and tag_url(member, rule_tag) not in html
    assert phone.post(tag_url(member, rule_tag)).status_code == 404

    stranger = factories.MemberFactory(home_store=other_store)
    plain = factories.TagFactory()
    assert phone.post(tag_url(stranger, plain)).status_code == 404
    assert not MemberTag.objects.exists()


def test_a_guide_without_the_tagging_permission_gets_no_buttons(guide):
    client = Client()
    client.force_login(guide.user)  # no Shop guides role
    member = factories.MemberFactory(home_store=guide.store)
    tag = factories.TagFactory()
    assert tag_url(member, tag) not in page(client, customer_url(member))
    assert client.post(tag_url(member, tag)).status_code == 403
    assert not MemberTag.objects.exists()


def test_the_customer_page_shows_orders_coupons_and_timeline(phone, guide):
    member = factories.MemberFactory(home_store=guide.store)
    factories.OrderFactory(member=member, paid_amount="128.00")
    tag = factories.TagFactory(group=factories.TagGroupFactory(name="品类"), name="面霜")
    members_tag(members=Member.objects.filter(pk=member.pk), tag=tag)
    html = page(phone, customer_url(member))
    assert "¥128.00" in html
    assert "tagged · 品类: 面霜" in html
    assert "No coupon to use." in html


# --- my code ----------------------------------------------------------------------------------


def test_my_code_shows_the_code_link_and_a_poster_the_browser_can_load(phone, guide):
    html = page(phone, reverse("workspace:code"))
    code = ReferralCode.objects.get(guide=guide).code
    assert code in html and f"/r/{code}" in html
    poster = phone.get(reverse("referral-guide-poster"))
    assert poster.status_code == 200 and poster["Content-Type"] == "image/png"
    assert "0 customers signed up with it." in html


def test_the_workspace_speaks_chinese(phone, guide):
    html = phone.get(TODAY, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "顾客" in html and "我的码" in html and "暂时没有要发送的消息" in html


def test_the_front_door_sends_guides_to_the_workspace_and_others_to_the_admin(phone, operator):
    assert phone.get("/")["Location"] == TODAY
    client = Client()
    assert client.get("/")["Location"] == reverse("admin:index")
    client.force_login(operator)
    assert client.get("/")["Location"] == reverse("admin:index")


def test_pages_are_not_cached_by_the_browser(phone):
    assert "no-store" in phone.get(TODAY)["Cache-Control"]


def test_other_apps_events_are_named_on_the_timeline(phone, guide):
    from members.events import event_record

    member = factories.MemberFactory(home_store=guide.store)
    event_record(member=member, kind="group.joined", data={"group_id": 1})
    event_record(member=member, kind="referral.attached", data={})
    html = phone.get(customer_url(member), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "加入社群" in html and "通过推荐注册" in html and "group.joined" not in html
