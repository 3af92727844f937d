"""The members app's own segment fields: profile, tags, purchases and consent.

Each compiles to a condition on an indexed member column or to an EXISTS subquery, so a whole
tree stays one SELECT over members. Relative dates resolve against the evaluation context
(members.segments.fields.Context), in the brand's time zone.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.lookups import GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils.translation import gettext_lazy as _

from members.choices import ConsentChannel, ConsentStatus, Gender, OrderStatus, source_channels
from members.models import Consent, Guide, MemberTag, Order, Store, Tag, Tier
from members.models.metrics import LifecycleStage
from members.segments.fields import (
    CHOICE_OPERATORS,
    DATE_OPERATORS,
    ID_MAX,
    NULLABLE_OPERATORS,
    NUMBER_OPERATORS,
    TAG_OPERATORS,
    ConditionError,
    Context,
    SegmentField,
    _id,
    _values_list,
    _whole,
    choice_q,
    date_q,
    number_q,
    segment_field_register,
)

PROFILE = _("Profile")
TAGS = _("Tags")
PURCHASES = _("Purchases")
CONSENT = _("Consent")
VALUE = _("RFM and lifecycle")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _age_q(op: str, value, ctx: Context) -> Q:
    """Age in whole years today. age >= n means born on or before today n years ago."""

    def at_least(n: int) -> Q:
        return Q(birthday__lte=_years_before(ctx.today, n))

    def at_most(n: int) -> Q:
        return Q(birthday__gt=_years_before(ctx.today, n + 1))

    if op == "between":
        low, high = (int(v) for v in value)
        return at_least(low) & at_most(high)
    n = int(value)
    return {
        "eq": lambda: at_least(n) & at_most(n),
        "ne": lambda: ~(at_least(n) & at_most(n)) & Q(birthday__isnull=False),
        "gt": lambda: at_least(n + 1),
        "gte": lambda: at_least(n),
        "lt": lambda: at_most(n - 1),
        "lte": lambda: at_most(n),
    }[op]()


def _clean_age(op: str, value):
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConditionError(_("Two values [from, to] are required."))
        low, high = _whole(value[0], maximum=150), _whole(value[1], maximum=150)
        if low > high:
            raise ConditionError(_("The first value must not be greater than the second."))
        return [low, high]
    return _whole(value, maximum=150)


def _days_since_last_purchase_q(op: str, value, ctx: Context) -> Q:
    """Whole local days between the last purchase and today (0 = bought today). Members who
    never bought have no value and match no comparison."""

    def day_start(days_ago: int) -> datetime:
        day = date.fromordinal(ctx.today.toordinal() - days_ago)
        return datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)

    def at_least(n: int) -> Q:  # bought before the start of day (today - n + 1)
        return Q(last_purchase_at__lt=day_start(n - 1))

    def at_most(n: int) -> Q:
        return Q(last_purchase_at__gte=day_start(n))

    if op == "between":
        low, high = value
        return at_least(low) & at_most(high)
    n = value
    return {
        "eq": lambda: at_least(n) & at_most(n),
        "ne": lambda: ~(at_least(n) & at_most(n)) & Q(last_purchase_at__isnull=False),
        "gt": lambda: at_least(n + 1),
        "gte": lambda: at_least(n),
        "lt": lambda: at_most(n - 1) if n > 0 else Q(pk__in=[]),
        "lte": lambda: at_most(n),
    }[op]()


def _clean_days(op: str, value):
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConditionError(_("Two values [from, to] are required."))
        low, high = _whole(value[0], maximum=36_500), _whole(value[1], maximum=36_500)
        if low > high:
            raise ConditionError(_("The first value must not be greater than the second."))
        return [low, high]
    return _whole(value, maximum=36_500)


def _average_order_value_q(op: str, value, ctx: Context) -> Q:
    """total_paid / order_count compared without dividing: total_paid >= v * order_count
    keeps it one expression on the member row. Members without orders have no average."""
    bought = Q(order_count__gt=0)
    times = F("order_count") * value if op != "between" else None
    if op == "between":
        low, high = value
        return (
            bought
            & Q(GreaterThanOrEqual(F("total_paid"), F("order_count") * low))
            & Q(LessThanOrEqual(F("total_paid"), F("order_count") * high))
        )
    compare = {
        "gte": lambda: Q(GreaterThanOrEqual(F("total_paid"), times)),
        "gt": lambda: ~Q(LessThanOrEqual(F("total_paid"), times)),
        "lte": lambda: Q(LessThanOrEqual(F("total_paid"), times)),
        "lt": lambda: Q(LessThan(F("total_paid"), times)),
        "eq": lambda: (
            Q(GreaterThanOrEqual(F("total_paid"), times))
            & Q(LessThanOrEqual(F("total_paid"), times))
        ),
        "ne": lambda: (
            ~(
                Q(GreaterThanOrEqual(F("total_paid"), times))
                & Q(LessThanOrEqual(F("total_paid"), times))
            )
        ),
    }
    return bought & compare[op]()


def _clean_tags(op: str, value) -> list[int]:
    values = _values_list(value)
    try:
        ids = sorted({_id(v) for v in values})
    except ConditionError:
        raise ConditionError(
            _("Tags are given by their ids, whole numbers from 1 to %(max)s.") % {"max": ID_MAX}
        ) from None
    known = set(Tag.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [str(pk) for pk in ids if pk not in known]
    if unknown:
        raise ConditionError(_("Unknown tag id(s): %(ids)s.") % {"ids": ", ".join(unknown)})
    return ids


def _tags_q(op: str, value: list[int], ctx: Context) -> Q:
    def has(tag_ids) -> Exists:
        return Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag_id__in=tag_ids))

    if op == "has_any":
        return Q(has(value))
    if op == "has_none":
        return ~Q(has(value))
    q = Q()
    for tag_id in value:
        q &= Q(has([tag_id]))
    return q


def _purchased_q(op: str, value, ctx: Context) -> Q:
    """A paid order in the window (refunded orders do not count)."""
    negate = op == "not_within_last_days"
    inner_op = "within_last_days" if negate else op
    window = date_q("paid_at", inner_op, value, ctx)
    exists = Q(Exists(Order.objects.filter(window, member=OuterRef("pk"), status=OrderStatus.PAID)))
    return ~exists if negate else exists


def _consent_q(op: str, value: list[str], ctx: Context) -> Q:
    def granted(channel: str) -> Exists:
        return Exists(
            Consent.objects.filter(
                member=OuterRef("pk"), channel=channel, status=ConsentStatus.GRANTED
            )
        )

    q = Q()
    for channel in value:
        q &= Q(granted(channel)) if op == "granted" else ~Q(granted(channel))
    return q


def _months():
    return [(str(m), str(m)) for m in range(1, 13)]


def register_core_fields() -> None:
    """Register the members app's fields (called from MembersConfig.ready())."""
    fields = [
        SegmentField(
            "tier",
            _("tier"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: _fk_choice_q(op, "tier", Tier, "code", v),
            choices=lambda: Tier.objects.order_by("rank").values_list("code", "name"),
        ),
        SegmentField(
            "source",
            _("source channel"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS,
            lambda op, v, ctx: choice_q("source", op, v),
            choices=source_channels,
        ),
        SegmentField(
            "store",
            _("home store"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: _fk_choice_q(op, "home_store", Store, "code", v),
            choices=lambda: Store.objects.order_by("code").values_list("code", "name"),
        ),
        SegmentField(
            "guide",
            _("owning guide"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: _fk_choice_q(op, "guide", Guide, "pk", [int(x) for x in v]),
            choices=lambda: Guide.objects.order_by("store__code", "name").values_list("pk", "name"),
        ),
        SegmentField(
            "city",
            _("city"),
            PROFILE,
            "text",
            ("in", "not_in"),
            lambda op, v, ctx: choice_q("city", op, v),
        ),
        SegmentField(
            "province",
            _("province"),
            PROFILE,
            "text",
            ("in", "not_in"),
            lambda op, v, ctx: choice_q("province", op, v),
        ),
        SegmentField(
            "gender",
            _("gender"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS,
            lambda op, v, ctx: choice_q("gender", op, v),
            choices=lambda: Gender.choices,
        ),
        SegmentField(
            "age",
            _("age"),
            PROFILE,
            "number",
            NUMBER_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: _nullable(op, "birthday") or _age_q(op, v, ctx),
            clean_value=_clean_age,
            help_text=_("Whole years today; members without a birthday match no comparison."),
        ),
        SegmentField(
            "birthday_month",
            _("birthday month"),
            PROFILE,
            "choice",
            CHOICE_OPERATORS,
            lambda op, v, ctx: (
                choice_q("birthday__month", op, [int(m) for m in v]) & Q(birthday__isnull=False)
            ),
            choices=_months,
        ),
        SegmentField(
            "joined",
            _("join date"),
            PROFILE,
            "date",
            DATE_OPERATORS,
            lambda op, v, ctx: date_q("created_at", op, v, ctx),
        ),
        SegmentField(
            "tags",
            _("tags"),
            TAGS,
            "tags",
            TAG_OPERATORS,
            _tags_q,
            clean_value=_clean_tags,
        ),
        SegmentField(
            "order_count",
            _("number of orders"),
            PURCHASES,
            "number",
            NUMBER_OPERATORS,
            lambda op, v, ctx: number_q("order_count", op, v),
        ),
        SegmentField(
            "total_paid",
            _("total paid"),
            PURCHASES,
            "number",
            NUMBER_OPERATORS,
            lambda op, v, ctx: number_q("total_paid", op, v),
        ),
        SegmentField(
            "total_margin",
            _("total gross margin"),
            PURCHASES,
            "number",
            NUMBER_OPERATORS,
            lambda op, v, ctx: number_q("total_margin", op, v),
        ),
        SegmentField(
            "average_order_value",
            _("average order value"),
            PURCHASES,
            "number",
            NUMBER_OPERATORS,
            _average_order_value_q,
            help_text=_("Total paid divided by the number of orders; no value without orders."),
        ),
        SegmentField(
            "days_since_last_purchase",
            _("days since last purchase"),
            PURCHASES,
            "number",
            NUMBER_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: (
                _nullable(op, "last_purchase_at") or _days_since_last_purchase_q(op, v, ctx)
            ),
            clean_value=_clean_days,
            help_text=_("0 means today; members who never bought match no comparison."),
        ),
        SegmentField(
            "first_purchase",
            _("first purchase date"),
            PURCHASES,
            "date",
            DATE_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: date_q("first_purchase_at", op, v, ctx),
        ),
        SegmentField(
            "last_purchase",
            _("last purchase date"),
            PURCHASES,
            "date",
            DATE_OPERATORS + NULLABLE_OPERATORS,
            lambda op, v, ctx: date_q("last_purchase_at", op, v, ctx),
        ),
        SegmentField(
            "purchased",
            _("bought"),
            PURCHASES,
            "date",
            DATE_OPERATORS,
            _purchased_q,
            help_text=_("A paid order in the period (refunded orders do not count)."),
            extra={"verb": True},
        ),
        SegmentField(
            "consent",
            _("consent"),
            CONSENT,
            "choice",
            ("granted", "not_granted"),
            _consent_q,
            choices=lambda: ConsentChannel.choices,
            clean_value=_clean_consent,
        ),
    ]
    # Nightly metrics (docs/metrics.md): scores 1-5, higher is better; members without a paid
    # order in the RFM window have none and match no comparison.
    for score, label in (
        ("r_score", _("R score (recency)")),
        ("f_score", _("F score (frequency)")),
        ("m_score", _("M score (monetary)")),
    ):
        fields.append(
            SegmentField(
                score,
                label,
                VALUE,
                "number",
                NUMBER_OPERATORS,
                lambda op, v, ctx, score=score: number_q(f"metrics__{score}", op, v),
                clean_value=_clean_score,
            )
        )
    fields += [
        SegmentField(
            "lifecycle_stage",
            _("lifecycle stage"),
            VALUE,
            "choice",
            CHOICE_OPERATORS,
            lambda op, v, ctx: choice_q("metrics__stage", op, v),
            choices=lambda: LifecycleStage.choices,
        ),
        SegmentField(
            "stage_changed",
            _("lifecycle stage changed"),
            VALUE,
            "date",
            DATE_OPERATORS,
            lambda op, v, ctx: date_q("metrics__stage_changed_at", op, v, ctx),
        ),
    ]
    for segment_field in fields:
        segment_field_register(segment_field)


def _clean_score(op: str, value):
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConditionError(_("Two values [from, to] are required."))
        low, high = _whole(value[0], minimum=1, maximum=5), _whole(value[1], minimum=1, maximum=5)
        if low > high:
            raise ConditionError(_("The first value must not be greater than the second."))
        return [low, high]
    return _whole(value, minimum=1, maximum=5)


def _clean_consent(op: str, value) -> list[str]:
    values = _values_list(value)
    accepted = set(ConsentChannel.values)
    unknown = [str(v) for v in values if v not in accepted]
    if unknown:
        raise ConditionError(
            _("Unknown consent channel(s): %(values)s.") % {"values": ", ".join(unknown)}
        )
    return list(dict.fromkeys(values))


def _nullable(op: str, column: str) -> Q | None:
    """is_set / is_not_set on a nullable column, else None (the caller compiles the value)."""
    if op == "is_set":
        return Q(**{f"{column}__isnull": False})
    if op == "is_not_set":
        return Q(**{f"{column}__isnull": True})
    return None


def _fk_choice_q(op: str, column: str, model, key: str, values) -> Q:
    """A foreign key compared with the ids of the referenced rows, resolved from their codes
    when the tree is compiled (one small lookup) and inlined as constants: the planner then
    weighs the actual tier or store with its statistics, and uses the member's own index on
    the key, as it does for a hand-written ``tier_id = 3``.

    "Tier is none of gold, silver" includes members without a tier, as an operator reading it
    expects; SQL's NOT IN alone would drop them."""
    nullable = _nullable(op, column)
    if nullable is not None:
        return nullable
    if key == "pk":
        ids = sorted({int(v) for v in values})
    else:
        ids = sorted(model.objects.filter(**{f"{key}__in": values}).values_list("pk", flat=True))
    matches = Q(**{f"{column}__in": ids})
    if op == "in":
        return matches
    return ~matches | Q(**{f"{column}__isnull": True})
