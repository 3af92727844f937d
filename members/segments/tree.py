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

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from members.segments.fields import (
    ID_MAX,
    ConditionError,
    Context,
    SegmentField,
    segment_field_get,
)

logger = logging.getLogger(__name__)

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


def _measure(data, max_depth: int) -> tuple[int, list[dict]]:
    """How many conditions ``data`` holds and which groups nest deeper than ``max_depth``,
    from the raw JSON, before any value is checked (checking a tags value is a query: a tree
    of 2,000 conditions must be refused without running 2,000 of them). Walks with a stack,
    so no nesting, however deep, can exhaust Python's recursion."""
    count = 0
    errors: list[dict] = []
    stack = [(data, "", 1, False)]
    while stack:
        node, path, depth, reported = stack.pop()
        if not isinstance(node, dict):
            continue
        kinds = [k for k in GROUP_KINDS if k in node]
        if not kinds:
            count += "field" in node or "op" in node
            continue
        if depth > max_depth and not reported:
            errors.append(
                {
                    "path": path or "tree",
                    "message": _("Groups nest at most %(limit)s levels deep.")
                    % {"limit": max_depth},
                }
            )
            reported = True  # once per branch; its conditions still count
        children = []
        for kind in kinds:
            here = f"{path}.{kind}" if path else kind
            items = node[kind]
            if kind == "not":
                children.append((items, here, depth + 1, reported))
            elif isinstance(items, list):
                children += [
                    (item, f"{here}[{i}]", depth + 1, reported) for i, item in enumerate(items)
                ]
        stack.extend(reversed(children))  # document order
    return count, errors


def tree_parse(data) -> Node:
    """Validate a JSON rule tree and return its nodes; TreeError lists every fault with the
    path of the node (``all[2].any[0].value``), including trees beyond the size limits.

    The checks, in order: the size limits (depth, number of conditions) on the raw JSON, so
    an oversized tree costs no query; then every node and value; then the whole tree is
    compiled to SQL as it would run now, so a value no database can hold (a date past year
    9999 once days are added, an id beyond bigint) is a fault of its node, not a crash when
    the segment is counted."""
    max_depth, max_conditions = _limits()
    count, errors = _measure(data, max_depth)
    if count > max_conditions:
        errors.append(
            {
                "path": "tree",
                "message": _("A tree holds at most %(limit)s conditions; this one has %(n)s.")
                % {"limit": max_conditions, "n": count},
            }
        )
    if errors:
        raise TreeError(errors)

    def fail(path: str, message: str) -> None:
        errors.append({"path": path or "tree", "message": str(message)})

    def parse(node, path: str) -> Node | None:
        if not isinstance(node, dict):
            fail(path, _("Each node must be an object: a group or a condition."))
            return None
        kinds = [k for k in GROUP_KINDS if k in node]
        if kinds:
            return parse_group(node, kinds, path)
        if "field" in node or "op" in node:
            return parse_condition(node, path)
        fail(path, _("A node needs “all”, “any” or “not”, or “field” and “op”."))
        return None

    def parse_group(node, kinds, path) -> Group | None:
        if len(kinds) > 1 or len(node) != 1:
            fail(path, _("A group has exactly one key: “all”, “any” or “not”."))
            return None
        kind = kinds[0]
        here = f"{path}.{kind}" if path else kind
        if kind == "not":
            child = parse(node["not"], here)
            return Group(here, kind, (child,)) if child is not None else None
        items = node[kind]
        if not isinstance(items, list):
            fail(here, _("“%(kind)s” takes a list of nodes.") % {"kind": kind})
            return None
        children = [parse(item, f"{here}[{i}]") for i, item in enumerate(items)]
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
        except (ValueError, OverflowError, TypeError):
            # A field's own check tripped over the value (an app's field, a number too big
            # for the database): the value's fault, said as such, never a 500.
            logger.info("segment field %s could not check %r", name, node.get("value"))
            fail(_value_path(path or "tree"), _out_of_range())
            return None
        return Condition(path or "tree", segment_field, op, value, node.get("value"))

    root = parse(data, "")
    if not errors and root is not None:
        errors = _compile_errors(root, tree_context())
    if errors or root is None:
        raise TreeError(errors or [{"path": "tree", "message": _("The tree is empty.")}])
    return root


def _out_of_range() -> str:
    return _("This value is out of range: it cannot be compared with the members' data.")


def _value_path(path: str) -> str:
    """Where a condition's value is reported: ``all[0].value``, or ``value`` at the root."""
    return "value" if path == "tree" else f"{path}.value"


def _conditions(node: Node):
    if isinstance(node, Condition):
        yield node
        return
    for child in node.children:
        yield from _conditions(child)


def _sql_check(q: Q) -> None:
    """Compile ``q`` over members to SQL (no query is run) and check every parameter fits its
    column: OverflowError for an integer beyond bigint, which SQLite refuses to bind and
    PostgreSQL to compare with an integer column."""
    try:
        _sql, params = Member.objects.filter(q).query.sql_with_params()
    except (EmptyResultSet, FullResultSet):
        return  # matches no one / everyone: valid
    for param in params:
        if isinstance(param, int) and not isinstance(param, bool) and abs(param) > ID_MAX:
            raise OverflowError("integer parameter beyond bigint")


def _compile_errors(root: Node, ctx: Context) -> list[dict]:
    """Faults that only show when the tree is compiled, each at its condition's value."""
    try:
        _sql_check(tree_compile(root, ctx))
        return []
    except TreeError as exc:
        first = exc.errors
    except (ValueError, OverflowError, TypeError):
        first = []
    # Find the culprits: every condition compiled on its own (only for a tree that failed).
    errors: list[dict] = []
    for condition in _conditions(root):
        try:
            _sql_check(tree_compile(condition, ctx))
        except TreeError as exc:
            errors += exc.errors
        except (ValueError, OverflowError, TypeError):
            errors.append({"path": _value_path(condition.path), "message": _out_of_range()})
    return errors or first or [{"path": "tree", "message": _out_of_range()}]


def tree_context(now: datetime | None = None) -> Context:
    """The evaluation context: ``now`` in the brand's time zone (Asia/Shanghai by default)."""
    local = timezone.localtime(now or timezone.now())
    return Context(now=local, today=local.date())


# An explicit match-all / match-none: an empty Q() would vanish when OR-ed with others.
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__in=[])


def tree_compile(node: Node, ctx: Context) -> Q:
    """One Q over Member for the tree; relative dates resolve against ``ctx``. A condition
    whose value cannot be compiled (a date beyond the calendar once days are added) raises
    TreeError naming it."""
    if isinstance(node, Condition):
        try:
            return node.field.compile(node.op, node.value, ctx)
        except TreeError:
            raise  # a field that compiles a nested tree names its own nodes
        except ConditionError as exc:
            message = str(exc)
        except (ValueError, OverflowError, TypeError):
            message = _out_of_range()
        raise TreeError([{"path": _value_path(node.path), "message": message}])
    if node.kind == "not":
        return ~tree_compile(node.children[0], ctx)
    if not node.children:
        return MATCH_ALL if node.kind == "all" else MATCH_NONE
    compiled = [tree_compile(child, ctx) for child in node.children]
    result = compiled[0]
    for q in compiled[1:]:
        result = result & q if node.kind == "all" else result | q
    return result
