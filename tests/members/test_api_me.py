"""The mini-program: WeChat sign-in and a member's own data."""

import pytest
from django.test import override_settings

from members.models import Consent, Member
from members.services.benefits import coupons_issue, points_earn
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("dev_wechat"),
]


@pytest.fixture
def dev_wechat():
    """The test double for WeChat: code "dev-x" signs in open id "dev-openid-x"."""
    with override_settings(SCRM_WECHAT_CLIENT="members.wechat.DevMiniProgramClient"):
        yield


def login(api, code):
    return api.post("/api/v1/auth/wechat/", {"code": code}, format="json")


def test_first_sign_in_creates_a_mini_program_member(api):
    response = login(api, "dev-alice")
    assert response.status_code == 200
    member = Member.objects.get(openid="dev-openid-alice")
    assert member.source == "miniprogram"
    assert member.unionid == "dev-unionid-alice"
    assert response.json()["member"]["id"] == member.pk
    api.credentials(HTTP_AUTHORIZATION=f"Member {response.json()['token']}")
    assert api.get("/api/v1/me/").json()["id"] == member.pk


def test_signing_in_again_finds_the_same_member(api):
    first = login(api, "dev-bob").json()["member"]["id"]
    assert login(api, "dev-bob").json()["member"]["id"] == first
    assert Member.objects.count() == 1


def test_a_store_member_signing_in_keeps_their_source(api, member):
    Member.objects.filter(pk=member.pk).update(unionid="dev-unionid-carol", source="offline_store")
    response = login(api, "dev-carol")
    assert response.json()["member"]["id"] == member.pk
    member.refresh_from_db()
    assert (member.source, member.openid) == ("offline_store", "dev-openid-carol")


@pytest.mark.parametrize("code", ["bogus", "", "dev-"])
def test_a_code_wechat_refuses_is_a_400(api, code):
    response = login(api, code)
    assert response.status_code == 400
    assert "code" in response.json()
    assert not Member.objects.exists()


def test_sign_in_ignores_a_stale_token_header(api):
    api.credentials(HTTP_AUTHORIZATION="Member expired-token")
    assert login(api, "dev-dave").status_code == 200


# --- /me/ --------------------------------------------------------------------------------------


def test_me_shows_my_own_profile_unmasked(member_api, member):
    body = member_api.get("/api/v1/me/").json()
    assert (body["id"], body["phone"]) == (member.pk, member.phone)
    assert "openid" not in body


def test_me_updates_my_profile(member_api, member):
    response = member_api.patch(
        "/api/v1/me/", {"name": "小美", "gender": "female", "city": "成都"}, format="json"
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.name, member.gender, member.city) == ("小美", "female", "成都")


def test_me_binds_the_phone_wechat_confirms(make_member_api):
    member = factories.MemberFactory(phone=None, openid="o-1")
    response = make_member_api(member).patch(
        "/api/v1/me/", {"phone_code": "dev-phone-13512345678"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "+8613512345678"


def test_me_cannot_set_a_phone_without_wechat_confirming_it(make_member_api):
    member = factories.MemberFactory(phone=None, openid="o-2")
    client = make_member_api(member)
    typed = client.patch("/api/v1/me/", {"phone": "13512345678"}, format="json")
    assert typed.status_code == 400
    assert "phone" in typed.json()
    forged = client.patch("/api/v1/me/", {"phone_code": "made-up"}, format="json")
    assert forged.status_code == 400
    assert "phone_code" in forged.json()
    member.refresh_from_db()
    assert member.phone is None


def test_me_cannot_take_another_members_phone(member_api, member, other_member):
    code = "dev-phone-" + other_member.phone
    response = member_api.patch("/api/v1/me/", {"phone_code": code}, format="json")
    assert response.status_code == 400
    assert "phone" in response.json()
    member.refresh_from_db()
    assert member.phone != other_member.phone


@pytest.mark.parametrize(
    "field, value",
    [("points_balance", 9999), ("tier", "gold"), ("home_store", "S999"), ("status", "active")],
)
def test_me_cannot_change_what_is_not_profile(member_api, member, field, value):
    response = member_api.patch("/api/v1/me/", {field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    member.refresh_from_db()
    assert member.points_balance == 0


@pytest.mark.parametrize(
    "body, field",
    [({"phone_code": "dev-phone-123"}, "phone"), ({"birthday": "2999-01-01"}, "birthday")],
)
def test_me_bad_profile_is_a_field_error(member_api, body, field):
    response = member_api.patch("/api/v1/me/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_my_points_coupons_and_orders_are_only_mine(member_api, member, other_member):
    points_earn(member=member, points=10, reason="mine")
    points_earn(member=other_member, points=99, reason="theirs")
    template = factories.CouponTemplateFactory()
    coupons_issue(template=template, members=Member.objects.all())
    mine = factories.OrderFactory(member=member)
    factories.OrderFactory(member=other_member)

    assert [r["delta"] for r in member_api.get("/api/v1/me/points/").json()["results"]] == [10]
    coupons = member_api.get("/api/v1/me/coupons/").json()["results"]
    assert [c["member"] for c in coupons] == [member.pk]
    assert [o["id"] for o in member_api.get("/api/v1/me/orders/").json()["results"]] == [mine.pk]


def test_my_consent_lists_every_channel_and_changes_with_one_call(member_api, member):
    rows = member_api.get("/api/v1/me/consent/").json()
    assert {r["channel"] for r in rows} >= {"sms", "wecom", "miniprogram"}
    assert not any(r["granted"] for r in rows)

    granted = member_api.post(
        "/api/v1/me/consent/", {"channel": "sms", "granted": True}, format="json"
    )
    assert granted.status_code == 200
    assert granted.json()["granted"] is True
    assert Consent.objects.get(member=member, channel="sms").method == "miniprogram"

    member_api.post("/api/v1/me/consent/", {"channel": "sms", "granted": False}, format="json")
    rows = {r["channel"]: r for r in member_api.get("/api/v1/me/consent/").json()}
    assert rows["sms"]["granted"] is False
    assert rows["sms"]["changed_at"] is not None


def test_bad_consent_channel_is_a_field_error(member_api):
    response = member_api.post(
        "/api/v1/me/consent/", {"channel": "fax", "granted": True}, format="json"
    )
    assert response.status_code == 400
    assert "channel" in response.json()


# --- tokens ------------------------------------------------------------------------------------


def test_a_member_token_cannot_reach_other_members(member_api, other_member):
    assert member_api.get(f"/api/v1/members/{other_member.pk}/").status_code == 403
    assert member_api.get(f"/api/v1/members/{other_member.pk}/orders/").status_code == 403
    assert member_api.get("/api/v1/tags/").status_code == 403


def test_a_revoked_token_is_refused(member_api, member):
    Member.objects.filter(pk=member.pk).update(token_version=member.token_version + 1)
    assert member_api.get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/me/points/", "/api/v1/me/consent/"])
def test_me_needs_a_member_token(api, operator_api, make_key_api, path):
    assert api.get(path).status_code == 401
    assert make_key_api("members:read").get(path).status_code == 401
    assert operator_api.get(path).status_code == 403


def test_sign_ins_from_one_address_are_rate_limited(api):
    statuses = [
        api.post("/api/v1/auth/wechat/", {"code": f"dev-{n}"}, format="json").status_code
        for n in range(22)
    ]
    assert statuses[:20] == [200] * 20
    assert statuses[20:] == [429, 429]
