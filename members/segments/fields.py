"""The segment field registry: what a rule tree's conditions may test, and how each compiles.

A field knows its operators, checks its values and turns one condition into a Q over Member.
Core fields (profile, tags, purchases, consent) are registered in members.segments.core;
other apps register theirs (group membership, referral counts, predicted value) from their
AppConfig.ready() with ``segment_field_register``, so members never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ConditionError(ValueError):
    """A condition's operator or value is not acceptable; the message says why."""


# What a value may be so that every database can hold and compare it: calendar dates (the
# brand's local days become datetimes a few hours either way, which must not leave the years
# 1-9999 Python and the databases handle) and ids (PostgreSQL's bigint, SQLite's INTEGER).
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)
ID_MAX = 2**63 - 1


@dataclass(frozen=True)
class Context:
    """When a tree is evaluated: relative dates ("last 30 days") resolve against ``now``,
    an aware datetime in the brand's time zone, and ``today``, its local date."""

    now: datetime
    today: date


# Operators, their labels in explanations, and the value each expects.
OPERATORS: dict[str, str] = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is one of"),
    "not_in": _("is none of"),
    "gt": _("is more than"),
    "gte": _("is at least"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "between": _("is between"),
    "is_set": _("is set"),
    "is_not_set": _("is not set"),
    "before": _("is before"),
    "after": _("is on or after"),
    "within_last_days": _("is within the last … days"),
    "not_within_last_days": _("is not within the last … days"),
    "within_next_days": _("is within the next … days"),
    "starts_with": _("starts with"),
    "has_any": _("has any of"),
    "has_all": _("has all of"),
    "has_none": _("has none of"),
    "granted": _("granted on"),
    "not_granted": _("not granted on"),
}

NUMBER_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
CHOICE_OPERATORS = ("in", "not_in")
DATE_OPERATORS = ("before", "after", "between", "within_last_days", "not_within_last_days")
TAG_OPERATORS = ("has_any", "has_all", "has_none")
NULLABLE_OPERATORS = ("is_set", "is_not_set")


@dataclass(frozen=True)
class SegmentField:
    """One thing a condition can test.

    ``kind`` tells builders which widget to show (number, choice, text, date, tags, bool).
    ``compile(op, value, ctx)`` returns a Q over Member for a value already passed through
    ``clean(op, value)``. ``choices`` (a callable) lists the accepted values of a choice field.
    """

    name: str
    label: str
    group: str
    kind: str
    operators: tuple[str, ...]
    compile: Callable[[str, object, Context], Q]
    choices: Callable[[], Iterable[tuple[object, str]]] | None = None
    clean_value: Callable[[str, object], object] | None = None
    help_text: str = ""
    extra: dict = field(default_factory=dict)

    def clean(self, op: str, value):
        """The condition's value, checked and converted for ``compile``; ConditionError if
        the operator or value does not fit this field."""
        if op not in self.operators:
            raise ConditionError(
                _("Operator “%(op)s” does not apply to %(field)s; use one of: %(ops)s.")
                % {"op": op, "field": self.name, "ops": ", ".join(self.operators)}
            )
        if op in NULLABLE_OPERATORS:
            return None
        if self.clean_value is not None:
            return self.clean_value(op, value)
        return _clean_by_kind(self, op, value)


_registry: dict[str, SegmentField] = {}


def segment_field_register(segment_field: SegmentField) -> None:
    """Make ``segment_field`` usable in rule trees. Registering a name twice replaces the
    earlier field (reloads in tests); names are global, so apps prefix theirs."""
    _registry[segment_field.name] = segment_field


def segment_field_get(name: str) -> SegmentField | None:
    """The registered field called ``name``, or None."""
    return _registry.get(name)


def segment_fields() -> list[SegmentField]:
    """Every registered field, in registration order (builders group them by ``group``)."""
    return list(_registry.values())


def segment_field_catalogue() -> list[dict]:
    """Every registered field with its operators and choices, labels in the active language
    (the rule builders in the admin and in shop back-ends draw from it)."""
    catalogue = []
    for entry in segment_fields():
        choices = None
        if entry.choices is not None:
            choices = [{"value": str(v), "label": str(label)} for v, label in entry.choices()]
        catalogue.append(
            {
                "name": entry.name,
                "label": str(entry.label),
                "group": str(entry.group),
                "kind": entry.kind,
                "operators": [
                    {"op": op, "label": str(OPERATORS.get(op, op))} for op in entry.operators
                ],
                "choices": choices,
                "help_text": str(entry.help_text),
            }
        )
    return catalogue


# --- value checks by kind -----------------------------------------------------------------


def _number(value) -> Decimal:
    if isinstance(value, bool):
        raise ConditionError(_("A number is required."))
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConditionError(_("A number is required.")) from None
    if not number.is_finite():
        raise ConditionError(_("A number is required."))
    return number


def _whole(value, *, minimum: int = 0, maximum: int = 100_000) -> int:
    number = _number(value)
    if number != number.to_integral_value() or not minimum <= number <= maximum:
        raise ConditionError(
            _("A whole number from %(min)s to %(max)s is required.")
            % {"min": minimum, "max": maximum}
        )
    return int(number)


def _date(value) -> date:
    if not isinstance(value, str):
        raise ConditionError(_("A date like 2026-01-31 is required."))
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConditionError(_("A date like 2026-01-31 is required.")) from None
    if not DATE_MIN <= day <= DATE_MAX:
        raise ConditionError(
            _("A date from %(min)s to %(max)s is required.")
            % {"min": DATE_MIN.isoformat(), "max": DATE_MAX.isoformat()}
        )
    return day


def _id(value) -> int:
    """A row id given as a JSON number or digits; ConditionError outside 1..2^63-1."""
    if isinstance(value, bool):
        raise ConditionError(_("Ids are whole numbers."))
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        if len(value.strip()) > 19:  # longer than any bigint (and than int() reads cheaply)
            raise ConditionError(_("Ids are whole numbers from 1 to %(max)s.") % {"max": ID_MAX})
        number = int(value.strip())
    else:
        raise ConditionError(_("Ids are whole numbers."))
    if not 1 <= number <= ID_MAX:
        raise ConditionError(_("Ids are whole numbers from 1 to %(max)s.") % {"max": ID_MAX})
    return number


def _pair(value, convert) -> tuple:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConditionError(_("Two values [from, to] are required."))
    low, high = convert(value[0]), convert(value[1])
    if low > high:
        raise ConditionError(_("The first value must not be greater than the second."))
    return low, high


def _values_list(value) -> list:
    if not isinstance(value, list) or not value:
        raise ConditionError(_("A non-empty list of values is required."))
    if len(value) > 1000:
        raise ConditionError(_("At most 1000 values are allowed in one condition."))
    return value


def _clean_by_kind(segment_field: SegmentField, op: str, value):
    kind = segment_field.kind
    if kind == "number":
        if op == "between":
            return _pair(value, _number)
        return _number(value)
    if kind == "date":
        if op in ("within_last_days", "not_within_last_days", "within_next_days"):
            return _whole(value, minimum=1, maximum=36_500)
        if op == "between":
            return _pair(value, _date)
        return _date(value)
    if kind == "choice":
        values = _values_list(value)
        accepted = {str(code) for code, _label in segment_field.choices()}
        unknown = [v for v in values if str(v) not in accepted]
        if unknown:
            raise ConditionError(
                _("Unknown value(s) for %(field)s: %(values)s.")
                % {"field": segment_field.name, "values": ", ".join(map(str, unknown))}
            )
        return [str(v) for v in values]
    if kind == "text":
        if op in ("in", "not_in"):
            values = _values_list(value)
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise ConditionError(_("Every value must be a non-empty text."))
            return [v.strip() for v in values]
        if not isinstance(value, str) or not value.strip():
            raise ConditionError(_("A non-empty text is required."))
        return value.strip()
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConditionError(_("true or false is required."))
        return value
    raise ConditionError(_("This field cannot be tested."))


# --- Q builders shared by core and app fields --------------------------------------------


def number_q(column: str, op: str, value) -> Q:
    """A comparison of a numeric column."""
    if op == "between":
        return Q(**{f"{column}__gte": value[0], f"{column}__lte": value[1]})
    if op == "ne":
        return ~Q(**{column: value})
    lookup = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}[op]
    return Q(**{f"{column}__{lookup}": value})


def date_q(column: str, op: str, value, ctx: Context, *, is_datetime: bool = True) -> Q:
    """A comparison of a date or datetime column; calendar dates are the brand's local days."""

    def start_of(day: date):
        if not is_datetime:
            return day
        return datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)

    if op in ("within_last_days", "not_within_last_days"):
        # "Within the last 30 days" counts today as one of them: from the start of the day
        # 29 days before today.
        since = start_of(ctx.today.fromordinal(ctx.today.toordinal() - max(value - 1, 0)))
        inside = Q(**{f"{column}__gte": since})
        return inside if op == "within_last_days" else ~inside
    if op == "within_next_days":
        # "Within the next 7 days" counts today as one of them, as "the last" does: today
        # to the day 6 days ahead (dates in the future, e.g. an expected next purchase).
        until = ctx.today.fromordinal(ctx.today.toordinal() + value)
        return Q(**{f"{column}__gte": start_of(ctx.today), f"{column}__lt": start_of(until)})
    if op == "before":
        return Q(**{f"{column}__lt": start_of(value)})
    if op == "after":
        return Q(**{f"{column}__gte": start_of(value)})
    if op == "between":
        low, high = value
        return Q(
            **{
                f"{column}__gte": start_of(low),
                f"{column}__lt": start_of(high.fromordinal(high.toordinal() + 1)),
            }
        )
    if op == "is_set":
        return Q(**{f"{column}__isnull": False})
    if op == "is_not_set":
        return Q(**{f"{column}__isnull": True})
    raise ConditionError(_("Unsupported operator."))


def choice_q(column: str, op: str, value) -> Q:
    """Membership of a column's value in a list."""
    q = Q(**{f"{column}__in": value})
    return q if op == "in" else ~q
