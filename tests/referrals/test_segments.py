"""Referral segment fields, registered by the referrals app into members' registry."""

import pytest

from members.segments import segment_field_catalogue, segment_members
from tests import factories

pytestmark = pytest.mark.django_db


def _ids(tree) -> set[int]:
    return set(segment_members(tree).values_list("pk", flat=True))


def test_fields_are_in_the_catalogue():
    names = {f["name"] for f in segment_field_catalogue()}
    assert {
        "referral_count",
        "referral_qualified_count",
        "referral_revenue",
        "referral_downline_count",
        "referred",
        "referred_at",
    } <= names


def test_referral_counts_with_members_outside_the_tree_as_zero(make_member, refer, pay, programme):
    big, small, nobody = make_member(), make_member(), make_member()
    friends = [make_member() for _ in range(3)]
    for friend in friends[:2]:
        refer(friend, big)
    refer(friends[2], small)
    pay(friends[0], "300")
    everyone = {big.pk, small.pk, nobody.pk, *(f.pk for f in friends)}
    assert _ids({"field": "referral_count", "op": "gte", "value": 2}) == {big.pk}
    assert _ids({"field": "referral_count", "op": "eq", "value": 0}) == everyone - {
        big.pk,
        small.pk,
    }
    assert _ids({"field": "referral_count", "op": "lt", "value": 2}) == everyone - {big.pk}
    assert _ids({"field": "referral_qualified_count", "op": "gte", "value": 1}) == {big.pk}
    assert _ids({"field": "referral_revenue", "op": "gt", "value": 299}) == {big.pk}
    assert _ids({"field": "referral_downline_count", "op": "between", "value": [1, 1]}) == {
        small.pk
    }


def test_referred_and_referred_at(make_member, refer):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    factories.MemberFactory()
    assert _ids({"field": "referred", "op": "eq", "value": True}) == {friend.pk}
    assert friend.pk not in _ids({"field": "referred", "op": "eq", "value": False})
    assert _ids({"field": "referred_at", "op": "within_last_days", "value": 7}) == {friend.pk}
