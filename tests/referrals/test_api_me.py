"""The mini-program's referral API: my code and poster, binding a code, my invitees (masked),
my rewards, fission tasks and leaderboards; a member token reaches only its own data."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from members.models import Member
from referrals.models import FissionTask, Referral, ReferralCode
from referrals.services.abuse import fingerprint_digest
from referrals.services.codes import referral_code_for_member

pytestmark = pytest.mark.django_db


def test_my_code_link_and_counts(make_member, member_client, refer, pay, programme, settings):
    settings.SCRM_REFERRAL_LINK_TEMPLATE = "https://brand.example/r/{code}"
    me = make_member()
    client = member_client(me)
    response = client.get("/api/v1/me/referral/", HTTP_X_DEVICE_ID="device-me")
    assert response.status_code == 200
    body = response.json()
    code = ReferralCode.objects.get(member=me).code
    assert body["code"] == code and body["link"] == f"https://brand.example/r/{code}"
    assert body["poster_url"] == "/api/v1/me/referral/poster.png"
    assert (body["invitees"], body["points_earned"], body["referred"]) == (0, 0, False)
    assert me.referral_fingerprints.filter(digest=fingerprint_digest("device", "device-me"))
    friend = make_member()
    refer(friend, me)
    pay(friend, "200")
    body = client.get("/api/v1/me/referral/").json()
    assert (body["invitees"], body["invitees_who_bought"], body["points_earned"]) == (1, 1, 120)


def test_my_poster_is_a_png_carrying_my_code(make_member, member_client, programme):
    me = make_member()
    response = member_client(me).get("/api/v1/me/referral/poster.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    code = ReferralCode.objects.get(member=me).code
    assert code in response["Content-Disposition"]


def test_bind_a_scanned_code_once(make_member, member_client):
    referrer, me = make_member(name="李小龙"), make_member()
    code = referral_code_for_member(member=referrer).code
    client = member_client(me)
    response = client.post("/api/v1/me/referral/bind/", {"code": code.lower()}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["referrer"] == "李**"
    assert (
        client.post("/api/v1/me/referral/bind/", {"code": code}, format="json").status_code == 200
    )
    other = referral_code_for_member(member=make_member()).code
    response = client.post("/api/v1/me/referral/bind/", {"code": other}, format="json")
    assert response.status_code == 400 and "code" in response.json()
    assert Referral.objects.get(referee=me).referrer == referrer


def test_bind_refuses_my_own_code_and_bad_input(make_member, member_client):
    me = make_member()
    client = member_client(me)
    mine = referral_code_for_member(member=me).code
    assert (
        client.post("/api/v1/me/referral/bind/", {"code": mine}, format="json").status_code == 400
    )
    assert client.post("/api/v1/me/referral/bind/", {}, format="json").status_code == 400
    response = client.post("/api/v1/me/referral/bind/", {"code": mine, "member": 1}, format="json")
    assert response.status_code == 400 and "member" in response.json()
    assert not Referral.objects.exists()


def test_bind_honours_idempotency_keys(make_member, member_client):
    code = referral_code_for_member(member=make_member()).code
    client = member_client(make_member())
    headers = {"HTTP_IDEMPOTENCY_KEY": "bind-1"}
    first = client.post("/api/v1/me/referral/bind/", {"code": code}, format="json", **headers)
    again = client.post("/api/v1/me/referral/bind/", {"code": code}, format="json", **headers)
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"


def test_my_invitees_are_mine_only_and_masked(make_member, member_client, refer, pay, programme):
    me, someone = make_member(), make_member()
    friend = make_member(name="王小明", phone="+8613812345678")
    refer(friend, me)
    refer(make_member(name="陌生人"), someone)
    pay(friend, "150")
    body = member_client(me).get("/api/v1/me/referral/invitees/").json()
    assert [row["name"] for row in body["results"]] == ["王**"]
    row = body["results"][0]
    assert row["phone"] == "138****5678" and row["bought"] is True
    assert "13812345678" not in str(body)
    assert member_client(make_member()).get("/api/v1/me/referral/invitees/").json()["results"] == []


def test_my_rewards(make_member, member_client, refer, pay, programme):
    me, friend = make_member(), make_member()
    refer(friend, me)
    pay(friend, "200")
    rows = member_client(me).get("/api/v1/me/referral/rewards/").json()["results"]
    assert sorted((r["kind"], r["points"], r["status"]) for r in rows) == [
        ("commission_1", 20, "granted"),
        ("referrer", 100, "granted"),
    ]
    assert (
        member_client(friend).get("/api/v1/me/referral/rewards/").json()["results"][0]["kind"]
        == "referee"
    )


def test_fission_tasks_with_my_progress_and_leaderboard(make_member, member_client, refer):
    now = timezone.now()
    task = FissionTask.objects.create(
        name="邀请2位好友注册",
        counts="signup",
        goal=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        reward_points=10,
    )
    FissionTask.objects.create(
        name="ended", goal=1, starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1)
    )
    me, rival = make_member(name="赵一"), make_member(name="钱二")
    for _ in range(2):
        refer(make_member(), rival)
    refer(make_member(), me)
    client = member_client(me)
    tasks = client.get("/api/v1/me/fission-tasks/").json()
    assert [(t["name"], t["my_count"], t["reached"]) for t in tasks] == [
        ("邀请2位好友注册", 1, False)
    ]
    board = client.get(f"/api/v1/me/fission-tasks/{task.pk}/leaderboard/").json()
    assert board == [
        {"rank": 1, "name": "钱*", "count": 2, "me": False},
        {"rank": 2, "name": "赵*", "count": 1, "me": True},
    ]


def test_member_endpoints_need_a_member_token(make_member, operator, staff_client):
    assert APIClient().get("/api/v1/me/referral/").status_code in (401, 403)
    assert staff_client(operator).get("/api/v1/me/referral/").status_code in (401, 403)


def test_a_member_token_cannot_reach_staff_tree_queries(make_member, member_client, refer):
    me, friend = make_member(), make_member()
    refer(friend, me)
    client = member_client(me)
    assert client.get(f"/api/v1/referrals/members/{me.pk}/downline/").status_code == 403
    assert client.get(f"/api/v1/referrals/members/{friend.pk}/upline/").status_code == 403


@override_settings(SCRM_WECHAT_CLIENT="members.wechat.DevMiniProgramClient")
def test_sign_up_with_a_referral_code(make_member, programme):
    referrer = make_member()
    code = referral_code_for_member(member=referrer).code
    api = APIClient()
    response = api.post(
        "/api/v1/referrals/signup/",
        {"code": "dev-newbie", "referral_code": code, "device_id": "dev-device"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["referral"]["status"] == "pending" and body["referral_error"] is None
    member = Member.objects.get(openid="dev-openid-newbie")
    assert member.source == "referral"
    assert Referral.objects.get(referee=member).channel == "signup"
    # The token works for /me/.
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Member {body['token']}")
    assert me.get("/api/v1/me/referral/").json()["referred"] is True


@override_settings(SCRM_WECHAT_CLIENT="members.wechat.DevMiniProgramClient")
def test_sign_up_still_signs_in_an_existing_customer_and_says_why_not(make_member, pay):
    old = make_member(openid="dev-openid-old")
    pay(old, "10", run=False)
    code = referral_code_for_member(member=make_member()).code
    response = APIClient().post(
        "/api/v1/referrals/signup/", {"code": "dev-old", "referral_code": code}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["referral"] is None and response.json()["referral_error"]
    assert response.json()["token"]
    bad = APIClient().post("/api/v1/referrals/signup/", {"code": "nope"}, format="json")
    assert bad.status_code == 400


def test_refusals_speak_chinese_first(make_member, member_client):
    client = member_client(make_member())
    response = client.post(
        "/api/v1/me/referral/bind/",
        {"code": "ZZZZZZ"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.json() == {"code": ["推荐码无效。"]}
    response = client.post(
        "/api/v1/me/referral/bind/", {"code": "ZZZZZZ"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.json() == {"code": ["Unknown referral code."]}


def test_reward_labels_in_chinese(make_member, member_client, refer, pay, programme):
    me, friend = make_member(), make_member()
    refer(friend, me)
    pay(friend, "200")
    rows = (
        member_client(me)
        .get("/api/v1/me/referral/rewards/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        .json()["results"]
    )
    assert {(r["kind_label"], r["status_label"]) for r in rows} == {
        ("推荐新客奖励", "已发放"),
        ("一级佣金", "已发放"),
    }
