"""A member's timeline, orders, points, coupons and consent, through the staff API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Consent, Event, Member, PointsEntry
from members.services.benefits import coupons_issue, points_earn
from members.services.orders import order_upsert
from tests import factories

pytestmark = pytest.mark.django_db


def url(member, what):
    return f"/api/v1/members/{member.pk}/{what}/"


@pytest.mark.parametrize("what", ["timeline", "orders", "points", "coupons", "consent"])
def test_guide_gets_404_for_another_stores_member(guide_api, other_member, what):
    assert guide_api.get(url(other_member, what)).status_code == 404


@pytest.mark.parametrize("what", ["timeline", "orders", "points", "coupons", "consent"])
def test_member_token_cannot_read_staff_views_even_of_itself(member_api, member, what):
    assert member_api.get(url(member, what)).status_code == 403


def test_timeline_lists_events_newest_first(operator_api, member):
    order_upsert(
        source="pos",
        external_id="T1",
        member=member,
        paid_amount="50",
        paid_at=timezone.now() - timedelta(hours=1),
    )
    kinds = [row["kind"] for row in operator_api.get(url(member, "timeline")).json()["results"]]
    assert kinds[0] == "points.changed"
    assert "order.paid" in kinds


def test_orders_of_a_member_latest_payment_first(guide_api, member, store):
    now = timezone.now()
    old = factories.OrderFactory(member=member, paid_at=now - timedelta(days=30), store=store)
    new = factories.OrderFactory(member=member, paid_at=now - timedelta(days=1))
    factories.OrderFactory()  # someone else's
    rows = guide_api.get(url(member, "orders")).json()["results"]
    assert [row["id"] for row in rows] == [new.pk, old.pk]
    assert rows[1]["store"] == store.code


def test_guide_reads_points_but_cannot_award_them(guide_api, member):
    points_earn(member=member, points=30, reason="welcome")
    assert [r["delta"] for r in guide_api.get(url(member, "points")).json()["results"]] == [30]
    response = guide_api.post(url(member, "points"), {"kind": "earn", "points": 5}, format="json")
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.points_balance == 30


def test_points_need_benefits_write_for_keys(make_key_api, member):
    body = {"kind": "earn", "points": 10, "reason": "活动"}
    assert (
        make_key_api("members:write").post(url(member, "points"), body, format="json").status_code
        == 403
    )
    response = make_key_api("benefits:write").post(url(member, "points"), body, format="json")
    assert response.status_code == 201
    assert response.json()["balance"] == 10
    assert response.json()["entry"]["kind"] == "earn"


def test_operator_earns_spends_and_adjusts(operator_api, member):
    post = lambda body: operator_api.post(url(member, "points"), body, format="json")  # noqa: E731
    assert post({"kind": "earn", "points": 100, "reason": "活动"}).json()["balance"] == 100
    assert post({"kind": "spend", "points": 30, "reason": "兑换"}).json()["balance"] == 70
    assert post({"kind": "adjust", "points": -20, "reason": "纠错"}).json()["balance"] == 50
    member.refresh_from_db()
    assert member.points_balance == 50


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "earn", "points": -10}, "points"),
        ({"kind": "spend", "points": 0}, "points"),
        ({"kind": "spend", "points": 500, "reason": "超额"}, "points"),
        ({"kind": "adjust", "points": 10, "reason": ""}, "reason"),
        ({"kind": "gift", "points": 10}, "kind"),
        ({"kind": "earn", "points": "ten"}, "points"),
        ({"kind": "spend", "points": 1, "valid_days": 10}, "valid_days"),
    ],
)
def test_bad_points_requests_are_field_errors_and_write_nothing(operator_api, member, body, field):
    points_earn(member=member, points=100, reason="seed")
    response = operator_api.post(url(member, "points"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    member.refresh_from_db()
    assert member.points_balance == 100
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_points_with_idempotency_key_are_credited_once(operator_api, member):
    body = {"kind": "earn", "points": 10, "reason": "签到"}
    for _ in range(3):
        response = operator_api.post(
            url(member, "points"), body, format="json", HTTP_IDEMPOTENCY_KEY="checkin-1"
        )
        assert response.status_code == 201
    member.refresh_from_db()
    assert member.points_balance == 10


def test_coupons_of_a_member(operator_api, member):
    template = factories.CouponTemplateFactory(name="满100减20")
    coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    rows = operator_api.get(url(member, "coupons")).json()["results"]
    assert [row["template"]["name"] for row in rows] == ["满100减20"]
    assert rows[0]["status"] == "issued"


def test_operator_records_and_withdraws_consent(operator_api, operator, member):
    response = operator_api.post(
        url(member, "consent"), {"channel": "sms", "granted": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "granted"
    assert response.json()["method"] == f"staff:{operator.username}"
    operator_api.post(url(member, "consent"), {"channel": "sms", "granted": False}, format="json")
    assert operator_api.get(url(member, "consent")).json()[0]["status"] == "withdrawn"
    assert Event.objects.filter(member=member, kind="consent.changed").count() == 2


def test_guide_cannot_change_consent_of_another_store(guide_api, other_member):
    response = guide_api.post(
        url(other_member, "consent"), {"channel": "sms", "granted": True}, format="json"
    )
    assert response.status_code == 404
    assert not Consent.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [({"channel": "fax", "granted": True}, "channel"), ({"channel": "sms"}, "granted")],
)
def test_bad_consent_is_a_field_error(operator_api, member, body, field):
    response = operator_api.post(url(member, "consent"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Consent.objects.exists()
