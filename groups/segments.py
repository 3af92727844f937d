"""Segment fields of the groups app, registered into members' registry from
GroupsConfig.ready(): in group X, in any group of purpose Y, joined a group within N days, and
the number of groups a member is in now.

Each compiles to an EXISTS (or an IN over a grouped count) on group memberships, answered by
the indexes on (member, group) for current seats and (joined_at), so a tree stays one SELECT
over members.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from groups.choices import GroupPurpose, GroupStatus
from groups.models import CommunityGroup, GroupMembership
from members.segments import SegmentField, segment_field_register
from members.segments.fields import (
    DATE_OPERATORS,
    NUMBER_OPERATORS,
    ConditionError,
    Context,
    _values_list,
    _whole,
    date_q,
    number_q,
)

GROUPS = _("Community groups")
CHOICES_SHOWN = 500


def _current():
    return GroupMembership.objects.filter(member=OuterRef("pk"), left_at__isnull=True)


def _group_choices():
    return (
        CommunityGroup.objects.exclude(status=GroupStatus.DISSOLVED)
        .order_by("name", "pk")
        .values_list("pk", "name")[:CHOICES_SHOWN]
    )


def _clean_groups(op: str, value) -> list[int]:
    values = _values_list(value)
    try:
        ids = sorted({int(v) for v in values if not isinstance(v, bool)})
    except (TypeError, ValueError):
        raise ConditionError(_("Groups are given by their ids.")) from None
    if not ids:
        raise ConditionError(_("Groups are given by their ids."))
    known = set(CommunityGroup.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [str(pk) for pk in ids if pk not in known]
    if unknown:
        raise ConditionError(_("Unknown group id(s): %(ids)s.") % {"ids": ", ".join(unknown)})
    return ids


def _in_group_q(op: str, value: list[int], ctx: Context) -> Q:
    q = Q(Exists(_current().filter(group_id__in=value)))
    return q if op == "in" else ~q


def _purpose_q(op: str, value: list[str], ctx: Context) -> Q:
    q = Q(Exists(_current().filter(group__purpose__in=value)))
    return q if op == "in" else ~q


def _joined_q(op: str, value, ctx: Context) -> Q:
    negate = op == "not_within_last_days"
    inner = "within_last_days" if negate else op
    joined = GroupMembership.objects.filter(
        date_q("joined_at", inner, value, ctx), member=OuterRef("pk")
    )
    q = Q(Exists(joined))
    return ~q if negate else q


def _matches_zero(op: str, value) -> bool:
    if op == "between":
        return value[0] <= 0 <= value[1]
    return {
        "eq": value == 0,
        "ne": value != 0,
        "gt": value < 0,
        "gte": value <= 0,
        "lt": value > 0,
        "lte": value >= 0,
    }[op]


def _clean_count(op: str, value):
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConditionError(_("Two values [from, to] are required."))
        low, high = _whole(value[0], maximum=10_000), _whole(value[1], maximum=10_000)
        if low > high:
            raise ConditionError(_("The first value must not be greater than the second."))
        return [low, high]
    return _whole(value, maximum=10_000)


def _count_q(op: str, value, ctx: Context) -> Q:
    # "In a group" and "in no group" are the common questions: an EXISTS answers them from the
    # index on current seats, without counting every member's groups.
    if (op, value) in (("gte", 1), ("gt", 0), ("ne", 0)):
        return Q(Exists(_current()))
    if (op, value) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return ~Q(Exists(_current()))
    counted = (
        GroupMembership.objects.filter(left_at__isnull=True)
        .order_by()
        .values("member_id")
        .annotate(n=Count("pk"))
        .filter(number_q("n", op, value))
        .values("member_id")
    )
    q = Q(pk__in=counted)
    if _matches_zero(op, value):
        q |= ~Q(Exists(_current()))
    return q


def register_group_fields() -> None:
    fields = [
        SegmentField(
            "group",
            _("in group"),
            GROUPS,
            "choice",
            ("in", "not_in"),
            _in_group_q,
            choices=_group_choices,
            clean_value=_clean_groups,
            help_text=_("Members who are in one of these groups now (by group id)."),
        ),
        SegmentField(
            "group_purpose",
            _("in a group of purpose"),
            GROUPS,
            "choice",
            ("in", "not_in"),
            _purpose_q,
            choices=lambda: GroupPurpose.choices,
            help_text=_("Members who are in any group of these purposes now."),
        ),
        SegmentField(
            "group_joined_at",
            _("joined a group"),
            GROUPS,
            "date",
            DATE_OPERATORS,
            _joined_q,
            extra={"verb": True},
            help_text=_(
                "When they joined any group (those who left since count too); e.g. within "
                "the last 7 days."
            ),
        ),
        SegmentField(
            "group_count",
            _("groups they are in"),
            GROUPS,
            "number",
            NUMBER_OPERATORS,
            _count_q,
            clean_value=_clean_count,
            help_text=_("How many groups they are in now; 0 for members in none."),
        ),
    ]
    for segment_field in fields:
        segment_field_register(segment_field)
