"""Segment fields of the referrals app, registered into members' registry from
ReferralsConfig.ready(): how many friends a member brought, how many bought, their revenue, and
whether (and when) the member was referred.

Counts live on the member's tree node; a member without a node counts 0, so "referrals = 0"
and "referrals < 2" include everybody who never referred anyone. Each field compiles to an
EXISTS over an indexed key, so a tree stays one SELECT over members.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from members.segments import SegmentField, segment_field_register
from members.segments.fields import (
    DATE_OPERATORS,
    NUMBER_OPERATORS,
    ConditionError,
    Context,
    _whole,
    date_q,
    number_q,
)
from referrals.choices import ReferralStatus
from referrals.models import Referral, ReferralNode

REFERRALS = _("Referrals")


def _matches_zero(op: str, value) -> bool:
    if op == "between":
        return value[0] <= 0 <= value[1]
    return {
        "eq": lambda: value == 0,
        "ne": lambda: value != 0,
        "gt": lambda: value < 0,
        "gte": lambda: value <= 0,
        "lt": lambda: value > 0,
        "lte": lambda: value >= 0,
    }[op]()


def _node_number_q(column: str):
    """A comparison of a node column, where members without a node count as 0."""

    def compile(op: str, value, ctx: Context) -> Q:
        nodes = ReferralNode.objects.filter(member=OuterRef("pk"))
        q = Q(Exists(nodes.filter(number_q(column, op, value))))
        if _matches_zero(op, value):
            q |= ~Q(Exists(nodes))
        return q

    return compile


def _clean_count(op: str, value):
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConditionError(_("Two values [from, to] are required."))
        low, high = _whole(value[0], maximum=10_000_000), _whole(value[1], maximum=10_000_000)
        if low > high:
            raise ConditionError(_("The first value must not be greater than the second."))
        return [low, high]
    return _whole(value, maximum=10_000_000)


def _referred_q(op: str, value, ctx: Context) -> Q:
    q = Q(
        Exists(
            Referral.objects.filter(referee=OuterRef("pk")).exclude(status=ReferralStatus.MERGED)
        )
    )
    return q if value else ~q


def _referred_at_q(op: str, value, ctx: Context) -> Q:
    return Q(
        Exists(
            Referral.objects.filter(date_q("attached_at", op, value, ctx), referee=OuterRef("pk"))
        )
    )


def register_referral_fields() -> None:
    fields = [
        SegmentField(
            "referral_count",
            _("friends referred"),
            REFERRALS,
            "number",
            NUMBER_OPERATORS,
            _node_number_q("direct_count"),
            clean_value=_clean_count,
            help_text=_("Members they referred directly (one level)."),
        ),
        SegmentField(
            "referral_qualified_count",
            _("referred friends who bought"),
            REFERRALS,
            "number",
            NUMBER_OPERATORS,
            _node_number_q("qualified_count"),
            clean_value=_clean_count,
            help_text=_("Referred friends whose first order qualified (refunds excluded)."),
        ),
        SegmentField(
            "referral_revenue",
            _("referred friends' revenue"),
            REFERRALS,
            "number",
            NUMBER_OPERATORS,
            _node_number_q("revenue"),
            help_text=_("What their referred friends have paid, refunds excluded."),
        ),
        SegmentField(
            "referral_downline_count",
            _("downline size"),
            REFERRALS,
            "number",
            NUMBER_OPERATORS,
            _node_number_q("downline_count"),
            clean_value=_clean_count,
            help_text=_("Everyone below them in the referral tree, all levels."),
        ),
        SegmentField(
            "referred",
            _("was referred"),
            REFERRALS,
            "bool",
            ("eq",),
            _referred_q,
        ),
        SegmentField(
            "referred_at",
            _("referral date"),
            REFERRALS,
            "date",
            DATE_OPERATORS,
            _referred_at_q,
            help_text=_("When they signed up through a friend's or guide's code."),
        ),
    ]
    for segment_field in fields:
        segment_field_register(segment_field)
