"""Read queries shared by the API, the admin and tasks. Object-level visibility lives here."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Case, F, FloatField, Func, Q, QuerySet, Value, When
from django.db.models.functions import Right
from django.utils import timezone

from members.choices import MemberStatus
from members.identity import phone_normalise
from members.models import Event, Member, Order
from members.value.config import value_settings
from scrm.api.permissions import is_guide, is_operator
from scrm.api.principals import ApiKeyPrincipal, MemberPrincipal


def members_visible_to(actor) -> QuerySet[Member]:
    """Active members ``actor`` may see: operators and API keys all, a guide their store's,
    a signed-in member only themselves, anyone else nobody."""
    conditions = member_visibility(actor)
    if conditions is None:
        return Member.objects.none()
    return Member.objects.filter(**conditions)


def member_visibility(actor) -> dict[str, object] | None:
    """What members_visible_to selects, as exact ``{field: value}`` conditions on Member (None:
    nobody), for read paths that write their own SQL (members.api.member_rows)."""
    if isinstance(actor, MemberPrincipal):
        return {"status": MemberStatus.ACTIVE, "id": actor.member_id}
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return {"status": MemberStatus.ACTIVE}
    if is_guide(actor):
        return {"status": MemberStatus.ACTIVE, "home_store_id": actor.guide.store_id}
    return None


def member_should_mask(actor) -> bool:
    """Guides get masked phones and WeChat ids from the server (PIPL, RELIABILITY.md)."""
    return is_guide(actor) and not actor.has_perm("members.view_unmasked_phone")


def member_unmasked_by_permission(actor) -> bool:
    """A guide holding members.view_unmasked_phone: served full phones and WeChat ids that a
    guide would otherwise see masked, so each time it happens is audited
    (members.services.audit.unmasked_view_record). Operators see identities by their role."""
    return is_guide(actor) and actor.has_perm("members.view_unmasked_phone")


def name_search(term: str) -> Q:
    """Names matching a search term, in a way PostgreSQL's trigram index on UPPER(name)
    (migration 0010) can serve: three or more characters anywhere in the name; two at its
    start or end (a surname and a first character, or a given name: 王小美 is found by 王小
    and by 小美); one at its start (a surname). A shorter substring has no trigram to look
    up, and would scan the member table."""
    if len(term) >= 3:
        return Q(name__icontains=term)
    if len(term) == 2:
        return Q(name__istartswith=term) | Q(name__iendswith=term)
    return Q(name__istartswith=term)


def members_search(members: QuerySet[Member], term: str) -> QuerySet[Member]:
    """``members`` narrowed to a search box's term (the admin's and the guide workspace's).
    Every branch is an index scan at a million members (migration 0010): ``#123`` is a member
    id; exact look-ups on the unique identity columns, the phone normalised first (138 1234
    5678 finds +8613812345678); four digits match the phone's last four (RIGHT(phone, 4),
    indexed); any other term also matches names (name_search). An empty term changes
    nothing."""
    term = (term or "").strip()
    if not term:
        return members
    if term.startswith("#") and term[1:].isdigit():
        return members.filter(pk=int(term[1:]))
    if len(term) == 4 and term.isdigit():
        # "尾号 5678": shops find customers by the last four digits, which guides see anyway.
        return members.alias(phone_last4=Right("phone", 4)).filter(phone_last4=term)
    condition = Q(unionid=term) | Q(openid=term) | Q(wecom_external_userid=term)
    try:
        condition |= Q(phone=phone_normalise(term))
    except ValidationError:
        condition |= name_search(term)
    return members.filter(condition)


def member_timeline(*, member: Member) -> QuerySet[Event]:
    """The member's events, newest first."""
    return Event.objects.filter(member=member).order_by("-occurred_at", "-pk")


def orders_visible_to(actor) -> QuerySet[Order]:
    """Orders of the members ``actor`` may see."""
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return Order.objects.all()
    return Order.objects.filter(member__in=members_visible_to(actor).values("pk"))


def members_due_for_repurchase(
    *, on_date: date, min_p_alive: float | None = None, catch_up_days: int = 0
) -> QuerySet[Member]:
    """Active members due to buy again on ``on_date`` (a local date), for repurchase
    campaigns; one query (docs/value.md). A member's due date is, in this order:

    1. the expected next purchase date of the nightly prediction (MemberValue), if it was
       made after the member's last purchase;
    2. else their last purchase plus their own average gap between orders, (last - first) /
       (orders - 1), if they bought on two different instants;
    3. else their last purchase plus SCRM_VALUE_DEFAULT_INTERVAL_DAYS.

    Members who never bought are never due. With ``min_p_alive``, members with a current
    prediction must also have at least that probability of still being customers. With
    ``catch_up_days``, members whose due date fell up to that many days before ``on_date``
    count too (a day the scheduler missed, a prediction that moved over the date); callers
    key their contact by purchase cycle so nobody is told twice."""
    start = _local_day_start(on_date - timedelta(days=catch_up_days))
    end = _local_day_start(on_date + timedelta(days=1))
    default_gap = timedelta(days=value_settings().default_interval_days)
    predicted = Q(value__next_purchase_on__isnull=False) & Q(
        value__scored_at__gte=F("last_purchase_at")
    )
    own_gap = Q(order_count__gte=2) & Q(last_purchase_at__gt=F("first_purchase_at"))
    last, first = _EpochSeconds("last_purchase_at"), _EpochSeconds("first_purchase_at")
    members = Member.objects.filter(
        status=MemberStatus.ACTIVE, last_purchase_at__isnull=False
    ).annotate(
        due_predicted=Case(When(predicted, then=Value(True)), default=Value(False)),
        due_own_gap=Case(When(own_gap, then=Value(True)), default=Value(False)),
        due_own_at=Case(
            When(own_gap, then=last + (last - first) / (F("order_count") - 1)),
            default=None,
            output_field=FloatField(),
        ),
    )
    by_model = Q(
        due_predicted=True,
        value__next_purchase_on__gte=on_date - timedelta(days=catch_up_days),
        value__next_purchase_on__lte=on_date,
    )
    if min_p_alive is not None:
        by_model &= Q(value__p_alive__gte=min_p_alive)
    by_own_gap = Q(
        due_predicted=False,
        due_own_gap=True,
        due_own_at__gte=start.timestamp(),
        due_own_at__lt=end.timestamp(),
    )
    by_default = Q(
        due_predicted=False,
        due_own_gap=False,
        last_purchase_at__gte=start - default_gap,
        last_purchase_at__lt=end - default_gap,
    )
    return members.filter(by_model | by_own_gap | by_default)


def _local_day_start(day: date) -> datetime:
    tz = timezone.get_default_timezone()
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), tz)


class _EpochSeconds(Func):
    """Seconds since 1970-01-01 UTC of a timestamp column, as a float."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)"

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite timestamps as UTC text, which julianday() reads.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )
