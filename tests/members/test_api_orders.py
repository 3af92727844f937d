"""Orders through the API: idempotent pushes by shop backends, reads per role."""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member, Order
from scrm.models import ApiKey, IdempotencyRecord
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"
PAID_AT = (timezone.now() - timedelta(days=1)).replace(microsecond=0).isoformat()


@pytest.fixture
def pos(make_key_api):
    return make_key_api("orders:write")


def order_body(who, /, **changes):
    body = {
        "source": "pos",
        "external_id": "A-1001",
        "member_phone": who.phone,
        "paid_amount": "120.00",
        "gross_margin": "50.00",
        "item_count": 2,
        "paid_at": PAID_AT,
    }
    body.update(changes)
    return body


def test_pushing_an_order_by_phone_records_it_and_updates_stats(pos, member, store):
    response = pos.post(URL, order_body(member, store=store.code), format="json")
    assert response.status_code == 201
    assert response.json()["member"] == member.pk
    assert response.json()["store"] == store.code
    member.refresh_from_db()
    assert (member.order_count, member.total_paid, member.points_balance) == (
        1,
        Decimal("120.00"),
        120,
    )


@pytest.mark.parametrize("ref", ["member", "member_unionid"])
def test_member_can_be_named_by_id_or_union_id(pos, member, ref):
    Member.objects.filter(pk=member.pk).update(unionid="u-123")
    value = member.pk if ref == "member" else "u-123"
    body = order_body(member, **{ref: value})
    del body["member_phone"]
    assert pos.post(URL, body, format="json").status_code == 201
    assert Order.objects.get().member_id == member.pk


def test_resending_the_same_order_is_a_200_and_changes_nothing(pos, member):
    first = pos.post(URL, order_body(member), format="json")
    again = pos.post(URL, order_body(member), format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    member.refresh_from_db()
    assert (member.order_count, member.points_balance) == (1, 120)


def test_reused_external_id_with_other_content_is_refused(pos, member):
    pos.post(URL, order_body(member), format="json")
    response = pos.post(URL, order_body(member, paid_amount="99.00"), format="json")
    assert response.status_code == 400
    assert "external_id" in response.json()
    assert Order.objects.get().paid_amount == Decimal("120.00")


def test_refund_by_pushing_status_refunded(pos, member):
    pos.post(URL, order_body(member), format="json")
    response = pos.post(URL, order_body(member, status="refunded"), format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "refunded"
    member.refresh_from_db()
    assert (member.order_count, member.total_paid, member.points_balance) == (0, 0, 0)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"paid_amount": "-1.00"}, "paid_amount"),
        ({"paid_amount": "abc"}, "paid_amount"),
        ({"member_phone": "123"}, "member_phone"),
        ({"member_phone": "13999999999"}, "member_phone"),
        ({"store": "NOPE"}, "store"),
        ({"paid_at": "yesterday"}, "paid_at"),
        ({"paid_at": (timezone.now() + timedelta(days=2)).isoformat()}, "paid_at"),
        ({"status": "lost"}, "status"),
        ({"item_count": -1}, "item_count"),
        ({"external_id": ""}, "external_id"),
        ({"member_phone": None}, "member_phone"),
        ({"points_balance": 5}, "points_balance"),
    ],
)
def test_bad_orders_are_field_errors_and_write_nothing(pos, member, changes, field):
    response = pos.post(URL, order_body(member, **changes), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not Order.objects.exists()
    member.refresh_from_db()
    assert member.order_count == 0


def test_member_id_and_phone_of_different_members_is_refused(pos, member, other_member):
    response = pos.post(URL, order_body(member, member=other_member.pk), format="json")
    assert response.status_code == 400
    assert "member" in response.json()
    assert not Order.objects.exists()


def test_order_without_member_is_refused(pos, member):
    body = order_body(member)
    del body["member_phone"]
    response = pos.post(URL, body, format="json")
    assert response.status_code == 400
    assert "member" in response.json()


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(pos, member):
    first = pos.post(URL, order_body(member), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = pos.post(URL, order_body(member), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_same_key_with_another_body_is_a_422(pos, member):
    pos.post(URL, order_body(member), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = pos.post(
        URL, order_body(member, external_id="A-2"), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 422
    assert list(Order.objects.values_list("external_id", flat=True)) == ["A-1001"]


def test_same_key_while_the_first_is_running_is_a_409(pos, member):
    body = order_body(member)
    IdempotencyRecord.objects.create(
        client=f"key:{ApiKey.objects.get().pk}",
        key="k-1",
        endpoint=URL,
        request_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
    )
    response = pos.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409
    assert not Order.objects.exists()


def test_a_rejected_request_does_not_burn_its_key(pos, member):
    bad = pos.post(
        URL, order_body(member, paid_amount="-5"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert bad.status_code == 400
    fixed = pos.post(URL, order_body(member), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert fixed.status_code == 201
    assert Order.objects.count() == 1


def test_two_clients_may_use_the_same_key(make_key_api, member):
    a, b = make_key_api("orders:write"), make_key_api("orders:write")
    assert (
        a.post(URL, order_body(member), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    )
    second = b.post(
        URL, order_body(member, external_id="B-1"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert second.status_code == 201
    assert Order.objects.count() == 2


# --- who may read and push ---------------------------------------------------------------------


def test_guides_and_read_keys_cannot_push_orders(guide_api, make_key_api, member):
    assert guide_api.post(URL, order_body(member), format="json").status_code == 403
    assert (
        make_key_api("members:read").post(URL, order_body(member), format="json").status_code == 403
    )
    assert not Order.objects.exists()


def test_a_push_only_key_cannot_read_orders(pos, member):
    factories.OrderFactory(member=member)
    assert pos.get(URL).status_code == 403


def test_guide_sees_orders_of_their_store_members_only(guide_api, member, other_member):
    mine = factories.OrderFactory(member=member)
    theirs = factories.OrderFactory(member=other_member)
    assert [row["id"] for row in guide_api.get(URL).json()["results"]] == [mine.pk]
    assert guide_api.get(f"{URL}{theirs.pk}/").status_code == 404
    assert guide_api.get(f"{URL}{mine.pk}/").status_code == 200


def test_order_list_filters(operator_api, member, other_member, store):
    mine = factories.OrderFactory(member=member, store=store, external_id="X-1")
    factories.OrderFactory(member=other_member, source="tmall")
    for params in (
        {"member": member.pk},
        {"store": store.code},
        {"external_id": "X-1"},
        {"source": "pos"},
        {"status": "paid", "member": member.pk},
    ):
        assert [r["id"] for r in operator_api.get(URL, params).json()["results"]] == [mine.pk], (
            params
        )


def test_member_token_cannot_use_the_orders_endpoint(member_api, member):
    assert member_api.get(URL).status_code == 403
    assert member_api.post(URL, order_body(member), format="json").status_code == 403


@pytest.mark.parametrize("member", ["-2.3672002005429912e+67", "99999999999999999999", "1.5", "x"])
def test_the_order_list_refuses_a_member_id_that_is_not_one(operator_api, member):
    response = operator_api.get("/api/v1/orders/", {"member": member})
    assert response.status_code == 400
    assert list(response.json()) == ["member"]
