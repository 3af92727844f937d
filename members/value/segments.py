"""Segment fields over the predicted value (members.MemberValue, docs/value.md).

Each compiles to a comparison on the member's MemberValue row. Members without a prediction
(no paid order yet, or not scored yet) have no value and match no comparison, as members
without a birthday match no age; ``is_set`` / ``is_not_set`` find them.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.segments.fields import (
    DATE_OPERATORS,
    NULLABLE_OPERATORS,
    NUMBER_OPERATORS,
    ConditionError,
    SegmentField,
    _number,
    _pair,
    date_q,
    number_q,
    segment_field_register,
)

PREDICTED = _("Predicted value")


def _probability(value):
    number = _number(value)
    if not 0 <= number <= 1:
        raise ConditionError(_("A probability from 0 to 1 is required."))
    return number


def _clean_probability(op: str, value):
    if op == "between":
        return _pair(value, _probability)
    return _probability(value)


def _number_field(name: str, label, column: str, help_text, clean_value=None) -> SegmentField:
    def compile_q(op, value, ctx):
        if op in NULLABLE_OPERATORS:
            return _isnull(column, op == "is_not_set")
        return number_q(f"value__{column}", op, value)

    return SegmentField(
        name,
        label,
        PREDICTED,
        "number",
        NUMBER_OPERATORS + NULLABLE_OPERATORS,
        compile_q,
        clean_value=clean_value,
        help_text=help_text,
    )


def _isnull(column: str, is_null: bool) -> Q:
    if is_null:
        # No row at all (never scored) or a NULL prediction.
        return Q(value__isnull=True) | Q(**{f"value__{column}__isnull": True})
    return Q(**{f"value__{column}__isnull": False})


def _next_purchase_q(op: str, value, ctx) -> Q:
    if op in NULLABLE_OPERATORS:
        return _isnull("next_purchase_on", op == "is_not_set")
    column = "value__next_purchase_on"
    if op in ("within_last_days", "not_within_last_days"):
        # Unlike a purchase date, this one can lie ahead: "within the last 7 days" ends today.
        inside = date_q(column, "within_last_days", value, ctx, is_datetime=False) & Q(
            **{f"{column}__lte": ctx.today}
        )
        return inside if op == "within_last_days" else ~inside
    return date_q(column, op, value, ctx, is_datetime=False)


def register_value_fields() -> None:
    """Register the predicted-value fields (called from MembersConfig.ready())."""
    fields = [
        _number_field(
            "p_alive",
            _("probability still a customer"),
            "p_alive",
            _("0 to 1, from the purchase model; see the value documentation."),
            clean_value=_clean_probability,
        ),
        _number_field(
            "expected_purchases_30",
            _("expected purchases, next 30 days"),
            "expected_purchases_30",
            _("A purchase is a day with paid orders."),
        ),
        _number_field(
            "expected_purchases_90",
            _("expected purchases, next 90 days"),
            "expected_purchases_90",
            _("A purchase is a day with paid orders."),
        ),
        _number_field(
            "expected_purchases_365",
            _("expected purchases, next 365 days"),
            "expected_purchases_365",
            _("A purchase is a day with paid orders."),
        ),
        _number_field(
            "expected_order_value",
            _("expected order value"),
            "expected_order_value",
            _("The expected paid amount of a future purchase."),
        ),
        _number_field(
            "predicted_clv",
            _("predicted CLV"),
            "clv",
            _("Expected paid amounts over the CLV horizon, discounted to today."),
        ),
        _number_field(
            "value_score",
            _("value score"),
            "value_score",
            _("Expected purchases in a year × margin per purchase × referral index."),
        ),
        SegmentField(
            "expected_next_purchase",
            _("expected next purchase"),
            PREDICTED,
            "date",
            DATE_OPERATORS + ("within_next_days",) + NULLABLE_OPERATORS,
            _next_purchase_q,
            help_text=_(
                "The last purchase plus the member's expected gap between purchases: a date "
                "ahead means due soon, a date past means overdue."
            ),
        ),
    ]
    for segment_field in fields:
        segment_field_register(segment_field)
