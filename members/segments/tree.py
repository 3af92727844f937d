"""Rule trees: parse JSON into small frozen nodes, validate with errors that name the node,
and compile to one Q over Member.

The format (docs/segments.md)::

    {"all": [                                   # every child holds   (also "any", "not")
        {"field": "tier", "op": "in", "value": ["gold"]},
        {"any": [{"field": "tags", "op": "has_any", "value": [3, 7]},
                 {"field": "days_since_last_purchase", "op": "gte", "value": 90}]},
        {"not": {"field": "consent", "op": "granted", "value": ["sms"]}}
    ]}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.segments.fields import ConditionError, Context, SegmentField, segment_field_get

GROUP_KINDS = ("all", "any", "not")


@dataclass(frozen=True)
class Condition:
    """One test of one field: ``value`` is already cleaned for the field's compiler."""

    path: str
    field: SegmentField
    op: str
    value: object
    raw_value: object


@dataclass(frozen=True)
class Group:
    """``all`` / ``any`` of its children, or ``not`` of its single child."""

    path: str
    kind: str
    children: tuple[Group | Condition, ...]


Node = Group | Condition


class TreeError(ValueError):
    """A tree that cannot be used: ``errors`` lists {"path", "message"} for every bad node."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


def _limits() -> tuple[int, int]:
    return (
        getattr(settings, "SCRM_SEGMENT_MAX_DEPTH", 6),
        getattr(settings, "SCRM_SEGMENT_MAX_CONDITIONS", 50),
    )


def tree_parse(data) -> Node:
    """Validate a JSON rule tree and return its nodes; TreeError lists every fault with the
    path of the node (``all[2].any[0].value``), including trees beyond the size limits."""
    max_depth, max_conditions = _limits()
    errors: list[dict] = []
    count = 0

    def fail(path: str, message: str) -> None:
        errors.append({"path": path or "tree", "message": str(message)})

    def parse(node, path: str, depth: int) -> Node | None:
        nonlocal count
        if not isinstance(node, dict):
            fail(path, _("Each node must be an object: a group or a condition."))
            return None
        kinds = [k for k in GROUP_KINDS if k in node]
        if kinds:
            return parse_group(node, kinds, path, depth)
        if "field" in node or "op" in node:
            count += 1
            return parse_condition(node, path)
        fail(path, _("A node needs “all”, “any” or “not”, or “field” and “op”."))
        return None

    def parse_group(node, kinds, path, depth) -> Group | None:
        if len(kinds) > 1 or len(node) != 1:
            fail(path, _("A group has exactly one key: “all”, “any” or “not”."))
            return None
        kind = kinds[0]
        if depth > max_depth:
            fail(
                path,
                _("Groups nest at most %(limit)s levels deep.") % {"limit": max_depth},
            )
            return None
        here = f"{path}.{kind}" if path else kind
        if kind == "not":
            child = parse(node["not"], here, depth + 1)
            return Group(here, kind, (child,)) if child is not None else None
        items = node[kind]
        if not isinstance(items, list):
            fail(here, _("“%(kind)s” takes a list of nodes.") % {"kind": kind})
            return None
        children = [parse(item, f"{here}[{i}]", depth + 1) for i, item in enumerate(items)]
        if any(child is None for child in children):
            return None
        return Group(here, kind, tuple(children))

    def parse_condition(node, path) -> Condition | None:
        extra = set(node) - {"field", "op", "value"}
        if extra:
            fail(path, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(extra))})
            return None
        name, op = node.get("field"), node.get("op")
        segment_field = segment_field_get(name) if isinstance(name, str) else None
        if segment_field is None:
            fail(f"{path}.field" if path else "field", _("Unknown field: %(f)s.") % {"f": name})
            return None
        if not isinstance(op, str):
            fail(f"{path}.op" if path else "op", _("An operator is required."))
            return None
        try:
            value = segment_field.clean(op, node.get("value"))
        except ConditionError as exc:
            where = "op" if op not in segment_field.operators else "value"
            fail(f"{path}.{where}" if path else where, str(exc))
            return None
        return Condition(path or "tree", segment_field, op, value, node.get("value"))

    root = parse(data, "", 1)
    if count > max_conditions:
        errors.append(
            {
                "path": "tree",
                "message": _("A tree holds at most %(limit)s conditions; this one has %(n)s.")
                % {"limit": max_conditions, "n": count},
            }
        )
    if errors or root is None:
        raise TreeError(errors or [{"path": "tree", "message": _("The tree is empty.")}])
    return root


def tree_context(now: datetime | None = None) -> Context:
    """The evaluation context: ``now`` in the brand's time zone (Asia/Shanghai by default)."""
    local = timezone.localtime(now or timezone.now())
    return Context(now=local, today=local.date())


# An explicit match-all / match-none: an empty Q() would vanish when OR-ed with others.
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__in=[])


def tree_compile(node: Node, ctx: Context) -> Q:
    """One Q over Member for the tree; relative dates resolve against ``ctx``."""
    if isinstance(node, Condition):
        return node.field.compile(node.op, node.value, ctx)
    if node.kind == "not":
        return ~tree_compile(node.children[0], ctx)
    if not node.children:
        return MATCH_ALL if node.kind == "all" else MATCH_NONE
    compiled = [tree_compile(child, ctx) for child in node.children]
    result = compiled[0]
    for q in compiled[1:]:
        result = result & q if node.kind == "all" else result | q
    return result
