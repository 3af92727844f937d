"""Segment fields over the predicted value (members.value.segments)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from members.models import MemberValue
from members.segments import (
    TreeError,
    segment_field_catalogue,
    segment_members,
    tree_explain,
    tree_parse,
)
from tests import factories

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=TZ)
TODAY = NOW.date()


def _value(member, **values):
    defaults = {
        "p_alive": 0.5,
        "expected_purchases_30": 0.1,
        "expected_purchases_90": 0.3,
        "expected_purchases_365": 1.0,
        "expected_order_value": Decimal("200.00"),
        "clv": Decimal("180.00"),
        "next_purchase_on": TODAY + timedelta(days=10),
        "value_score": Decimal("80.00"),
        "scored_at": NOW,
    }
    return MemberValue.objects.create(member=member, **{**defaults, **values})


@pytest.fixture
def members():
    loyal, fading, due, overdue, prospect = (factories.MemberFactory() for _ in range(5))
    _value(loyal, p_alive=0.95, clv=Decimal("2400.00"), value_score=Decimal("900.00"))
    _value(fading, p_alive=0.12, clv=Decimal("35.50"), expected_purchases_365=0.2)
    _value(due, next_purchase_on=TODAY + timedelta(days=2))
    _value(overdue, next_purchase_on=TODAY - timedelta(days=5))
    return {"loyal": loyal, "fading": fading, "due": due, "overdue": overdue, "none": prospect}


def _names(tree, members) -> set[str]:
    ids = set(segment_members(tree, now=NOW).values_list("pk", flat=True))
    return {name for name, member in members.items() if member.pk in ids}


@pytest.mark.parametrize(
    "condition, expected",
    [
        ({"field": "p_alive", "op": "gte", "value": 0.9}, {"loyal"}),
        ({"field": "p_alive", "op": "lt", "value": 0.3}, {"fading"}),
        ({"field": "p_alive", "op": "between", "value": [0.4, 0.6]}, {"due", "overdue"}),
        ({"field": "p_alive", "op": "is_not_set"}, {"none"}),
        ({"field": "p_alive", "op": "is_set"}, {"loyal", "fading", "due", "overdue"}),
        ({"field": "predicted_clv", "op": "gte", "value": 1000}, {"loyal"}),
        ({"field": "predicted_clv", "op": "lt", "value": "100"}, {"fading"}),
        ({"field": "value_score", "op": "gt", "value": 100}, {"loyal"}),
        ({"field": "expected_purchases_365", "op": "lte", "value": 0.5}, {"fading"}),
        (
            {"field": "expected_order_value", "op": "eq", "value": 200},
            {"loyal", "fading", "due", "overdue"},
        ),
        (
            {"field": "expected_next_purchase", "op": "within_next_days", "value": 3},
            {"due"},
        ),
        (
            {"field": "expected_next_purchase", "op": "within_next_days", "value": 11},
            {"loyal", "fading", "due"},
        ),
        (
            {"field": "expected_next_purchase", "op": "within_last_days", "value": 7},
            {"overdue"},
        ),
        (
            {"field": "expected_next_purchase", "op": "before", "value": TODAY.isoformat()},
            {"overdue"},
        ),
        ({"field": "expected_next_purchase", "op": "is_not_set"}, {"none"}),
    ],
)
def test_value_conditions(members, condition, expected):
    assert _names({"all": [condition]}, members) == expected


def test_negated_value_condition_keeps_members_without_prediction_out(members):
    # "not p_alive >= 0.5" is everyone else, the unscored member included (NOT of no match).
    tree = {"not": {"field": "p_alive", "op": "gte", "value": 0.5}}
    assert _names(tree, members) == {"fading", "none"}


def test_within_next_days_counts_today(members):
    MemberValue.objects.filter(member=members["due"]).update(next_purchase_on=TODAY)
    tree = {"all": [{"field": "expected_next_purchase", "op": "within_next_days", "value": 1}]}
    assert _names(tree, members) == {"due"}


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "p_alive", "op": "gte", "value": 1.5},
        {"field": "p_alive", "op": "between", "value": [0.8, 0.2]},
        {"field": "p_alive", "op": "in", "value": [0.5]},
        {"field": "expected_next_purchase", "op": "within_next_days", "value": 0},
        {"field": "predicted_clv", "op": "gte", "value": "lots"},
    ],
)
def test_bad_value_conditions_are_refused(condition):
    with pytest.raises(TreeError):
        tree_parse({"all": [condition]})


def test_fields_are_in_the_catalogue_and_explained():
    with translation.override("en"):
        names = {f["name"]: f for f in segment_field_catalogue()}
    for name in (
        "p_alive",
        "expected_purchases_30",
        "expected_purchases_90",
        "expected_purchases_365",
        "expected_order_value",
        "predicted_clv",
        "expected_next_purchase",
        "value_score",
    ):
        assert names[name]["group"] == "Predicted value", name
    ops = [o["op"] for o in names["expected_next_purchase"]["operators"]]
    assert "within_next_days" in ops and "is_not_set" in ops
    text = tree_explain(
        tree_parse(
            {
                "all": [
                    {"field": "expected_next_purchase", "op": "within_next_days", "value": 7},
                    {"field": "p_alive", "op": "gte", "value": 0.5},
                ]
            }
        ),
        language="en",
    )
    assert "expected next purchase is within the next 7 days" in text
    assert "probability still a customer is at least 0.5" in text


def test_not_within_last_days_of_a_future_date(members):
    tree = {"all": [{"field": "expected_next_purchase", "op": "not_within_last_days", "value": 7}]}
    assert _names(tree, members) == {"loyal", "fading", "due", "none"}
