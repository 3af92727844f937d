"""Malformed requests to every write endpoint: a 4xx, never a 500, and nothing written."""

import pytest

from members.models import Consent, Coupon, Member, MemberTag, Order, PointsEntry, Tag, TagGroup
from tests import factories

pytestmark = pytest.mark.django_db

JUNK = [
    [],
    "text",
    7,
    {"nested": {"deep": [1, {"x": None}]}},
    {"members": "1"},
    {"members": [2**63]},
    {"filter": [1]},
    {"filter": {"tag": {"a": 1}}},
    {"filter": {"tag": [2**63]}},
    {"kind": "earn", "points": 1e30},
    {"paid_amount": "NaN", "external_id": "x", "member": 1, "paid_at": "2024-01-01T00:00:00Z"},
    {"paid_amount": "1e40", "external_id": "x", "member": 1, "paid_at": "2024-01-01T00:00:00Z"},
    {"member": 2**70, "external_id": "x", "paid_amount": 1, "paid_at": "2024-01-01T00:00:00Z"},
    {"order": 2**63, "code": "X"},
    {"phone": ["13800001111"]},
    {"name": {"x": 1}},
    {"birthday": "0000-00-00"},
    {"channel": "sms", "granted": "maybe"},
    {"group": 2**63, "name": "x"},
    {"guide": 2**63},
    {"home_store": ["S1"]},
    {"unionid": "a" * 65},
    {"name": "\x00"},
]


def counts():
    return [
        model.objects.count()
        for model in (Member, Order, MemberTag, Coupon, PointsEntry, Consent, Tag, TagGroup)
    ]


@pytest.fixture
def write_paths(member):
    tag = factories.TagFactory()
    template = factories.CouponTemplateFactory()
    return [
        ("post", "/api/v1/members/upsert/"),
        ("patch", f"/api/v1/members/{member.pk}/"),
        ("post", f"/api/v1/members/{member.pk}/points/"),
        ("post", f"/api/v1/members/{member.pk}/consent/"),
        ("post", "/api/v1/tag-groups/"),
        ("post", "/api/v1/tags/"),
        ("post", f"/api/v1/tags/{tag.pk}/bulk-tag/"),
        ("post", f"/api/v1/tags/{tag.pk}/bulk-untag/"),
        ("post", "/api/v1/orders/"),
        ("post", f"/api/v1/coupon-templates/{template.pk}/issue/"),
        ("post", "/api/v1/coupons/redeem/"),
    ]


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_to_staff_endpoints_is_refused_cleanly(operator_api, write_paths, body):
    before = counts()
    for method, path in write_paths:
        response = getattr(operator_api, method)(path, body, format="json")
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
    assert counts() == before


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_to_mini_program_endpoints_is_refused_cleanly(member_api, api, body):
    before = counts()
    for client, method, path in [
        (member_api, "patch", "/api/v1/me/"),
        (member_api, "post", "/api/v1/me/consent/"),
        (api, "post", "/api/v1/auth/wechat/"),
    ]:
        response = getattr(client, method)(path, body, format="json")
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
    assert counts() == before


@pytest.mark.parametrize(
    "query",
    [
        "tag=abc",
        "tag=9223372036854775808",
        "guide=x",
        "guide=99999999999999999999999",
        "created_after=2020-13-45",
        "consent=fax",
        "source=fax",
        "cursor=zzz",
        "phone=%00",
    ],
)
def test_bad_member_list_queries_are_4xx(operator_api, member, query):
    response = operator_api.get(f"/api/v1/members/?{query}")
    assert 400 <= response.status_code < 500
