"""The referrals admin: a member's tree page, programme metrics, the review queue, codes,
referrals and fission leaderboards; operators only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Member
from referrals.choices import RewardStatus
from referrals.models import FissionTask, Referral, ReferralCode, Reward
from tests import factories

pytestmark = pytest.mark.django_db


def _tree_url(member):
    return reverse("admin:referrals_referralnode_change", args=[member.pk])


def test_tree_page_shows_upline_path_and_downline_by_level(
    chain, operator_admin, make_member, refer
):
    a, b, c, d = chain(4)
    extra = make_member(name="第二个")
    refer(extra, b)
    page = operator_admin.get(_tree_url(c))
    assert page.status_code == 200
    upline = page.context["upline"]
    assert [u["depth"] for u in upline] == [0, 1]
    assert str(a.pk) in str(upline[0]["link"]) and str(b.pk) in str(upline[1]["link"])
    page = operator_admin.get(_tree_url(a))
    assert page.context["levels"] == [
        {"level": 1, "count": 1},
        {"level": 2, "count": 2},
        {"level": 3, "count": 1},
    ]
    level2 = operator_admin.get(_tree_url(a) + "?level=2")
    assert {r["member_id"] for r in level2.context["rows"]} == {c.pk, extra.pk}
    assert "第二个" in level2.content.decode()


def test_tree_page_pages_through_a_big_level(make_member, refer, operator_admin, monkeypatch):
    monkeypatch.setattr("referrals.admin.tree.LEVEL_PAGE", 3)
    root = make_member()
    kids = [make_member() for _ in range(5)]
    for kid in kids:
        refer(kid, root)
    first = operator_admin.get(_tree_url(root) + "?level=1")
    assert len(first.context["rows"]) == 3 and first.context["next_after"]
    second = operator_admin.get(_tree_url(root), {"level": 1, "after": first.context["next_after"]})
    seen = {r["member_id"] for r in first.context["rows"] + second.context["rows"]}
    assert seen == {k.pk for k in kids} and second.context["next_after"] is None


def test_tree_changelist_searches_by_phone(make_member, refer, operator_admin):
    root, friend = make_member(phone="+8613855556666"), make_member()
    refer(friend, root)
    page = operator_admin.get(
        reverse("admin:referrals_referralnode_changelist"), {"q": "138 5555 6666"}
    )
    assert [n.member_id for n in page.context["cl"].result_list] == [root.pk]


def test_programme_settings_and_metrics_page(programme, operator_admin, make_member, refer, pay):
    friend, referrer = make_member(), make_member(name="推荐王")
    refer(friend, referrer)
    pay(friend, "300")
    change = operator_admin.get(reverse("admin:referrals_programme_change", args=[programme.pk]))
    assert change.status_code == 200
    page = operator_admin.get(reverse("admin:referrals_programme_metrics", args=[programme.pk]))
    assert page.status_code == 200
    assert page.context["metrics"].new_buyers == 1
    assert "推荐王" in page.content.decode()


def test_programme_form_refuses_commission_above_the_cap(operator_admin):
    response = operator_admin.post(
        reverse("admin:referrals_programme_add"),
        {
            "name": "x",
            "min_order_amount": "0",
            "qualify_within_days": "30",
            "referrer_points": "0",
            "referee_points": "0",
            "commission_level1_percent": "50",
            "commission_level2_percent": "0",
        },
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert "commission_level1_percent" in response.context["adminform"].form.errors


def _held_reward(make_member, refer, pay):
    referrer = make_member()
    refer(make_member(), referrer, device_id="farm")
    friend = make_member()
    refer(friend, referrer, device_id="farm")
    pay(friend, "200")
    return referrer


def test_review_queue_lists_held_rewards_and_approves(
    make_member, refer, pay, programme, operator_admin
):
    referrer = _held_reward(make_member, refer, pay)
    url = reverse("admin:referrals_rewardreview_changelist")
    page = operator_admin.get(url)
    held = list(page.context["cl"].result_list)
    assert {r.status for r in held} == {RewardStatus.HELD} and len(held) == 3
    operator_admin.post(
        url,
        {"action": "approve_rewards", "_selected_action": [r.pk for r in held]},
    )
    assert not Reward.objects.filter(status=RewardStatus.HELD).exists()
    assert Member.objects.get(pk=referrer.pk).points_balance == 100 + 20


def test_review_queue_rejects(make_member, refer, pay, programme, operator_admin):
    referrer = _held_reward(make_member, refer, pay)
    url = reverse("admin:referrals_rewardreview_changelist")
    ids = list(Reward.objects.filter(status=RewardStatus.HELD).values_list("pk", flat=True))
    operator_admin.post(url, {"action": "reject_rewards", "_selected_action": ids})
    assert set(Reward.objects.values_list("status", flat=True)) == {RewardStatus.REJECTED}
    assert Member.objects.get(pk=referrer.pk).points_balance == 0


def test_referral_list_filters_flagged_and_trusts(
    make_member, refer, pay, programme, operator_admin
):
    _held_reward(make_member, refer, pay)
    url = reverse("admin:referrals_referral_changelist")
    flagged = operator_admin.get(url, {"flagged": "yes"}).context["cl"].result_list
    assert len(flagged) == 1
    operator_admin.post(url, {"action": "clear_flags", "_selected_action": [flagged[0].pk]})
    assert Referral.objects.get(pk=flagged[0].pk).cleared_at is not None
    assert not Reward.objects.filter(status=RewardStatus.HELD).exists()


def test_give_every_guide_a_code(store, operator_admin):
    guides = [factories.GuideFactory(store=store) for _ in range(3)]
    changelist = reverse("admin:referrals_referralcode_changelist")
    button = (
        f'<form method="post" action="{reverse("admin:referrals_referralcode_guides")}"'
        ' style="display:inline">'
    )
    page = operator_admin.get(changelist).content.decode()
    assert button in page
    assert '<button type="submit" class="button">为所有导购生成推荐码</button>' in page
    english = operator_admin.get(changelist, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<button type="submit" class="button">Give every guide a code</button>' in english
    assert not ReferralCode.objects.filter(guide__in=guides).exists()  # a GET makes nothing
    assert operator_admin.get(reverse("admin:referrals_referralcode_guides")).status_code == 405
    operator_admin.post(reverse("admin:referrals_referralcode_guides"))
    assert ReferralCode.objects.filter(guide__in=guides).count() == 3
    operator_admin.post(reverse("admin:referrals_referralcode_guides"))
    assert ReferralCode.objects.filter(guide__in=guides).count() == 3


SHARED_DEVICE_ZH = "与推荐人或其邀请的人共用设备"


def test_review_queue_and_referrals_show_flag_labels_not_codes(
    make_member, refer, pay, programme, operator_admin
):
    _held_reward(make_member, refer, pay)
    for url in (
        reverse("admin:referrals_rewardreview_changelist"),
        reverse("admin:referrals_reward_changelist"),
        reverse("admin:referrals_referral_changelist"),
    ):
        page = operator_admin.get(url).content.decode()
        assert SHARED_DEVICE_ZH in page, url
        assert "shared_device" not in page, url
    english = operator_admin.get(
        reverse("admin:referrals_rewardreview_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "shares a device with the referrer or their invitees" in english


def test_reward_and_referral_detail_pages_show_flag_labels(
    make_member, refer, pay, programme, operator_admin
):
    _held_reward(make_member, refer, pay)
    reward = Reward.objects.filter(status=RewardStatus.HELD).first()
    referral = Referral.objects.exclude(flags=[]).get()
    for url in (
        reverse("admin:referrals_reward_change", args=[reward.pk]),
        reverse("admin:referrals_referral_change", args=[referral.pk]),
    ):
        page = operator_admin.get(url)
        assert page.status_code == 200, url
        assert SHARED_DEVICE_ZH in page.content.decode(), url
        assert "shared_device" not in page.content.decode(), url


def test_tree_page_shows_flag_labels(make_member, refer, pay, programme, operator_admin):
    _held_reward(make_member, refer, pay)
    flagged = Referral.objects.exclude(flags=[]).get().referee
    page = operator_admin.get(_tree_url(flagged)).content.decode()
    assert SHARED_DEVICE_ZH in page and "shared_device" not in page
    english = operator_admin.get(_tree_url(flagged), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "shares a device with the referrer or their invitees" in english


def test_fission_task_page_shows_its_leaderboard(make_member, refer, operator_admin):
    now = timezone.now()
    task = FissionTask.objects.create(
        name="t",
        counts="signup",
        goal=1,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    leader = make_member(name="第一名")
    refer(make_member(), leader)
    page = operator_admin.get(reverse("admin:referrals_fissiontask_change", args=[task.pk]))
    assert page.status_code == 200 and "第一名" in page.content.decode()


def test_guides_cannot_open_the_referrals_admin(guide_admin, make_member, refer):
    root, friend = make_member(), make_member()
    refer(friend, root)
    for url in (
        reverse("admin:referrals_referralnode_change", args=[root.pk]),
        reverse("admin:referrals_rewardreview_changelist"),
        reverse("admin:referrals_programme_changelist"),
    ):
        assert guide_admin.get(url).status_code == 403, url
