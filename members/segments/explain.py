"""A rule tree read aloud: one indented line per node, in the language asked for.

Operators read the explanation next to the live count in the rule builder, so values are
shown as people know them: tier and store names, tag names with their group, channel labels.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from members.models import Tag
from members.segments.fields import OPERATORS
from members.segments.tree import Condition, Group, Node

_GROUP_TITLES = {
    "all": lambda: _("All of:"),
    "any": lambda: _("Any of:"),
    "not": lambda: _("Not:"),
}


def _labels(condition: Condition, values) -> list[str]:
    segment_field = condition.field
    if segment_field.kind == "tags":
        names = {
            tag.pk: f"{tag.group.name}: {tag.name}"
            for tag in Tag.objects.filter(pk__in=values).select_related("group")
        }
        return [names.get(pk, f"#{pk}") for pk in values]
    if segment_field.choices is not None:
        labels = {str(code): str(label) for code, label in segment_field.choices()}
        return [labels.get(str(v), str(v)) for v in values]
    return [str(v) for v in values]


def _value_text(condition: Condition) -> str:
    op, value = condition.op, condition.value
    if op in ("is_set", "is_not_set"):
        return ""
    if op in ("within_last_days", "not_within_last_days", "within_next_days"):
        return _("%(n)s days") % {"n": value}
    if op == "between":
        low, high = value
        return _("%(low)s and %(high)s") % {"low": low, "high": high}
    if isinstance(value, list):
        return _(", ").join(_labels(condition, value))
    return str(value)


def _condition_text(condition: Condition) -> str:
    label = str(condition.field.label)
    operator = str(OPERATORS.get(condition.op, condition.op))
    if condition.op == "granted":
        operator = _("granted on")
    elif condition.op == "not_granted":
        operator = _("not granted on")
    elif condition.op in ("within_last_days", "not_within_last_days"):
        within = condition.op == "within_last_days"
        if condition.field.extra.get("verb"):  # "bought within the last 30 days"
            operator = _("within the last") if within else _("not within the last")
        else:
            operator = _("is within the last") if within else _("is not within the last")
    elif condition.op == "within_next_days":
        operator = _("is within the next")
    value = _value_text(condition)
    return f"{label} {operator} {value}".strip()


def tree_explain(node: Node, *, language: str | None = None) -> str:
    """The tree as indented text, e.g. "All of:\\n  tier is one of Gold\\n  ..."; in
    ``language`` (e.g. "zh-hans", "en") or the active one."""
    with translation.override(language or translation.get_language()):
        lines: list[str] = []

        def walk(current: Node, depth: int) -> None:
            indent = "  " * depth
            if isinstance(current, Group):
                lines.append(indent + _GROUP_TITLES[current.kind]())
                if not current.children:
                    lines.append(
                        indent
                        + "  "
                        + (_("(everyone)") if current.kind == "all" else _("(no one)"))
                    )
                for child in current.children:
                    walk(child, depth + 1)
            else:
                lines.append(indent + _condition_text(current))

        walk(node, 0)
        return "\n".join(lines)
