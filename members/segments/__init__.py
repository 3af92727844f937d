"""Segments: rule trees over members, compiled to one SQL query (docs/segments.md).

node = tree_parse(data)              # TreeError lists every bad node with its path
members = segment_members(node)      # a QuerySet of active members; .count(), slices
text = tree_explain(node, language="zh-hans")
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from members.choices import MemberStatus
from members.models import Member
from members.segments.explain import tree_explain
from members.segments.fields import OPERATORS as OPERATORS_LABELS
from members.segments.fields import (
    ConditionError,
    Context,
    SegmentField,
    segment_field_catalogue,
    segment_field_get,
    segment_field_register,
    segment_fields,
)
from members.segments.tree import (
    Condition,
    Group,
    Node,
    TreeError,
    tree_compile,
    tree_context,
    tree_parse,
)

__all__ = [
    "Condition",
    "ConditionError",
    "Context",
    "Group",
    "Node",
    "OPERATORS_LABELS",
    "SegmentField",
    "TreeError",
    "segment_field_catalogue",
    "segment_field_get",
    "segment_field_register",
    "segment_fields",
    "segment_members",
    "tree_compile",
    "tree_context",
    "tree_explain",
    "tree_parse",
]


def segment_members(tree: Node | dict, *, now: datetime | None = None) -> QuerySet[Member]:
    """Active members matching ``tree`` (parsed nodes or raw JSON) at ``now``: one query,
    to count, slice or use as a subquery (fan-outs, rule tags)."""
    node = tree if isinstance(tree, Group | Condition) else tree_parse(tree)
    condition = tree_compile(node, tree_context(now))
    return Member.objects.filter(status=MemberStatus.ACTIVE).filter(condition)
