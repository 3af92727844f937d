"""Query-count guards on the list endpoints (DESIGN.md: "an N+1 in a list endpoint is a bug"):
each page costs the same, small, number of queries for one row as for many, per role. The
member list has its own guard in test_api_members.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from members.choices import ConsentChannel, TagSource
from members.models import Coupon, Event, Member, MemberTag, PointsEntry
from members.services.benefits import coupons_issue, points_earn
from members.services.members import consent_set
from tests import factories

pytestmark = pytest.mark.django_db

MANY = 25


def _orders(member, n):
    store = member.home_store or factories.StoreFactory()
    factories.OrderFactory.create_batch(n, member=member, store=store)


def _timeline(member, n):
    Event.objects.bulk_create(
        Event(member=member, kind="member.tagged", data={"n": i}, occurred_at=timezone.now())
        for i in range(n)
    )


def _points(member, n):
    for _ in range(n):
        points_earn(member=member, points=10, reason="test")
    # Each entry names its order, as points earned by purchases do.
    order = factories.OrderFactory(member=member)
    PointsEntry.objects.filter(member=member).update(order=order)


def _coupons(member, n):
    templates = factories.CouponTemplateFactory.create_batch(n)
    for template in templates:
        coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    # Each names the order it was redeemed on.
    for coupon in Coupon.objects.filter(member=member, redeemed_order__isnull=True):
        coupon.redeemed_order = factories.OrderFactory(member=member)
        coupon.status = "redeemed"
        coupon.save(update_fields=["redeemed_order", "status"])


def _tags(member, n):
    group = factories.TagGroupFactory()
    tags = factories.TagFactory.create_batch(n, group=group)
    MemberTag.objects.bulk_create(
        MemberTag(member=member, tag=tag, source=TagSource.MANUAL) for tag in tags
    )


def _tag_groups(member, n):
    for _ in range(n):
        group = factories.TagGroupFactory()
        factories.TagFactory.create_batch(2, group=group)


def _consents(member, n):
    for channel in list(ConsentChannel.values)[: min(n, len(ConsentChannel.values))]:
        consent_set(member=member, channel=channel, granted=True)


def _results(response) -> list:
    data = response.json()
    return data["results"] if isinstance(data, dict) else data


def check_constant(client, url: str, add: Callable, member, expected: int, assert_num_queries):
    """The page costs ``expected`` queries with a few rows and with MANY more."""
    add(member, 1)
    client.get(url)  # warm what a second request finds cached (the user's guide profile)
    with assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200, response.content
    few = len(_results(response))
    assert few >= 1
    add(member, MANY)
    with assert_num_queries(expected):
        response = client.get(url)
    # Consent lists are one row per channel; every other list has grown.
    assert len(_results(response)) > few or "consent" in url


STAFF_LISTS = [
    # (path under the member, rows to add, queries for operators)
    ("orders", _orders, 2),  # the member + the page (orders with their store)
    ("timeline", _timeline, 2),  # the member + the page
    ("points", _points, 2),
    ("coupons", _coupons, 2),  # coupons with their template
    ("consent", _consents, 2),
]


@pytest.mark.parametrize(("what", "add", "expected"), STAFF_LISTS, ids=[s[0] for s in STAFF_LISTS])
@pytest.mark.parametrize("role", ["operator", "guide"])
def test_member_history_lists(
    role, what, add, expected, operator_api, guide_api, member, django_assert_num_queries
):
    client = operator_api if role == "operator" else guide_api
    url = f"/api/v1/members/{member.pk}/{what}/"
    check_constant(client, url, add, member, expected, django_assert_num_queries)


@pytest.mark.parametrize("role", ["operator", "guide"])
def test_order_list(role, operator_api, guide_api, member, django_assert_num_queries):
    client = operator_api if role == "operator" else guide_api
    # operators: the page; guides: the page of their store's members' orders (one query too)
    check_constant(client, "/api/v1/orders/", _orders, member, 1, django_assert_num_queries)


@pytest.mark.parametrize(
    ("url", "add", "expected"),
    [
        ("/api/v1/tags/", _tags, 1),
        ("/api/v1/tag-groups/", _tag_groups, 2),  # groups + their tags
        ("/api/v1/coupon-templates/", _coupons, 1),
    ],
)
def test_tag_and_template_lists(
    url, add, expected, operator_api, member, django_assert_num_queries
):
    check_constant(operator_api, url, add, member, expected, django_assert_num_queries)


ME_LISTS = [
    # member tokens are checked against the member row (token version): one query
    ("/api/v1/me/orders/", _orders, 2),
    ("/api/v1/me/points/", _points, 2),
    ("/api/v1/me/coupons/", _coupons, 2),
    ("/api/v1/me/consent/", _consents, 2),
]


@pytest.mark.parametrize(("url", "add", "expected"), ME_LISTS, ids=[m[0] for m in ME_LISTS])
def test_me_lists(url, add, expected, member_api, member, django_assert_num_queries):
    check_constant(member_api, url, add, member, expected, django_assert_num_queries)


def test_me_profile(member_api, member, django_assert_num_queries):
    member_api.get("/api/v1/me/")
    with django_assert_num_queries(2):  # the token's member, then the profile with its tier
        assert member_api.get("/api/v1/me/").status_code == 200
