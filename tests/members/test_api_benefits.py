"""Coupon templates, issuing and redeeming coupons through the API."""

import pytest

from members.models import Coupon, CouponTemplate, Member
from members.services.benefits import coupons_issue
from tests import factories

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/coupon-templates/"
REDEEM = "/api/v1/coupons/redeem/"


def issue(client, template, body):
    return client.post(f"{TEMPLATES}{template.pk}/issue/", body, format="json")


def test_staff_and_read_keys_list_templates(guide_api, make_key_api):
    factories.CouponTemplateFactory(name="满100减20")
    assert guide_api.get(TEMPLATES).json()["results"][0]["name"] == "满100减20"
    assert make_key_api("members:read").get(TEMPLATES).status_code == 200
    assert make_key_api("orders:write").get(TEMPLATES).status_code == 403


def test_operator_issues_coupons_to_members(operator_api, member, other_member):
    template = factories.CouponTemplateFactory()
    response = issue(operator_api, template, {"members": [member.pk, other_member.pk]})
    assert response.status_code == 200
    assert response.json() == {"matched": 2, "issued": 2}
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {member.pk, other_member.pk}


def test_issuing_by_filter(operator_api, store, other_store):
    factories.MemberFactory.create_batch(2, home_store=store)
    factories.MemberFactory(home_store=other_store)
    template = factories.CouponTemplateFactory()
    response = issue(operator_api, template, {"filter": {"store": store.code}, "reason": "开业"})
    assert response.json() == {"matched": 2, "issued": 2}


def test_issuing_needs_an_operator_or_benefits_write(guide_api, make_key_api, member):
    template = factories.CouponTemplateFactory()
    body = {"members": [member.pk]}
    assert issue(guide_api, template, body).status_code == 403
    assert issue(make_key_api("members:write"), template, body).status_code == 403
    assert not Coupon.objects.exists()
    assert issue(make_key_api("benefits:write"), template, body).status_code == 200


def test_issuing_beyond_stock_issues_nothing(operator_api, member, other_member):
    template = factories.CouponTemplateFactory(total_quantity=1)
    response = issue(operator_api, template, {"members": [member.pk, other_member.pk]})
    assert response.status_code == 400
    assert "template" in response.json()
    assert not Coupon.objects.exists()
    template.refresh_from_db()
    assert template.issued_count == 0


def test_issuing_an_inactive_template_is_refused(operator_api, member):
    template = factories.CouponTemplateFactory(is_active=False)
    assert issue(operator_api, template, {"members": [member.pk]}).status_code == 400
    assert not Coupon.objects.exists()


def test_issue_with_idempotency_key_issues_once(operator_api, member):
    template = factories.CouponTemplateFactory()
    for _ in range(2):
        response = operator_api.post(
            f"{TEMPLATES}{template.pk}/issue/",
            {"members": [member.pk]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="campaign-7",
        )
        assert response.json() == {"matched": 1, "issued": 1}
    assert Coupon.objects.count() == 1


@pytest.fixture
def coupon(member):
    template = factories.CouponTemplateFactory(threshold="100.00")
    coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    return Coupon.objects.get()


def test_redeem_a_coupon_against_an_order(make_key_api, coupon, member):
    order = factories.OrderFactory(member=member, paid_amount="150.00")
    client = make_key_api("benefits:write")
    response = client.post(REDEEM, {"code": coupon.code.lower(), "order": order.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "redeemed"
    assert response.json()["redeemed_order"] == order.pk
    again = client.post(REDEEM, {"code": coupon.code, "order": order.pk}, format="json")
    assert again.status_code == 400
    assert "code" in again.json()


def test_redeem_by_the_orders_external_id(operator_api, coupon, member):
    order = factories.OrderFactory(member=member, source="pos", external_id="R-1")
    response = operator_api.post(
        REDEEM,
        {"code": coupon.code, "order_source": "pos", "order_external_id": "R-1"},
        format="json",
    )
    assert response.status_code == 200
    coupon.refresh_from_db()
    assert coupon.redeemed_order_id == order.pk


@pytest.mark.parametrize(
    "case, field",
    [
        ("unknown_code", "code"),
        ("someone_elses_order", "code"),
        ("below_threshold", "code"),
        ("unknown_order", "order"),
        ("no_order", "order"),
    ],
)
def test_bad_redemptions_are_field_errors(operator_api, coupon, member, other_member, case, field):
    owner = other_member if case == "someone_elses_order" else member
    amount = "50.00" if case == "below_threshold" else "150.00"
    order = factories.OrderFactory(member=owner, paid_amount=amount)
    body = {"code": "NOSUCHCODE" if case == "unknown_code" else coupon.code}
    if case == "unknown_order":
        body["order"] = 999999
    elif case != "no_order":
        body["order"] = order.pk
    response = operator_api.post(REDEEM, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_guides_cannot_redeem(guide_api, coupon, member):
    order = factories.OrderFactory(member=member, paid_amount="150.00")
    response = guide_api.post(REDEEM, {"code": coupon.code, "order": order.pk}, format="json")
    assert response.status_code == 403
    assert CouponTemplate.objects.get().issued_count == 1


def test_coupon_templates_filter_by_active_and_refuse_other_values(operator_api):
    from tests import factories as f

    active = f.CouponTemplateFactory(is_active=True)
    f.CouponTemplateFactory(is_active=False)
    listed = operator_api.get("/api/v1/coupon-templates/", {"is_active": "true"}).json()
    assert [t["id"] for t in listed["results"]] == [active.pk]
    response = operator_api.get(
        "/api/v1/coupon-templates/", {"is_active": "yes"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == {"is_active": ["Use true or false."]}
