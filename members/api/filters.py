"""FilterSets for members and orders, shared by the API list endpoints and bulk calls.

Each filter maps to an indexed column or an EXISTS subquery, so a filtered list stays one
query however many filters are combined and never returns a member twice.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField, ModelMultipleChoiceField
from drf_spectacular.utils import extend_schema_field

from members.api.member_page import Equals
from members.choices import ConsentChannel, ConsentStatus, OrderStatus, source_channels
from members.identity import phone_normalise
from members.models import (
    Consent,
    CouponTemplate,
    Guide,
    Member,
    MemberTag,
    Order,
    Store,
    Tag,
    Tier,
)
from members.segments.fields import ID_MAX


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number that fits a 64-bit key (anything else is a 400, where an
    enormous number was a 500 when the database could not bind it)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned to UTC before it reaches the database: Python accepts offsets
    up to ±23:59, PostgreSQL only up to ±15:59 (a far offset was a 500 there)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None and timezone.is_aware(moment):
            moment = moment.astimezone(UTC)
        return moment


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class PhoneFormField(forms.CharField):
    """Accepts any way of writing a phone number and cleans it to E.164, so the filter is an
    exact match on the unique index; an invalid number is a 400, not an empty list."""

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        return phone_normalise(value)


class PhoneFilter(django_filters.CharFilter):
    field_class = PhoneFormField


# Ids are 64-bit; SQLite's driver overflows on larger numbers instead of matching nothing.
MAX_ID = 2**63 - 1


class TagIdsField(ModelMultipleChoiceField):
    """Tag ids, refused as invalid choices when out of the id range rather than sent to the
    database."""

    def _check_values(self, value):
        for pk in value:
            try:
                out_of_range = not 0 < int(pk) <= MAX_ID
            except (TypeError, ValueError):
                continue  # the parent reports it as not a valid value
            if out_of_range:
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": pk},
                )
        return super()._check_values(value)


@extend_schema_field(
    {"type": "integer", "description": "Tag id; repeat to require all of the tags."}
)
class TagsFilter(django_filters.ModelMultipleChoiceFilter):
    """Tag ids; the schema says integers (the filter's values are Tag rows)."""

    field_class = TagIdsField


class MemberFilter(django_filters.FilterSet):
    """Filters of the member list (and of bulk tagging / coupon issuing by filter)."""

    phone = PhoneFilter(help_text=_("Phone number in any format; +86 is assumed."))
    unionid = django_filters.CharFilter(help_text=_("WeChat union id, exact."))
    openid = django_filters.CharFilter(help_text=_("WeChat open id, exact."))
    # Prefix, not substring: Chinese names are searched by surname first, and a prefix match
    # can use an index where a substring match scans the table.
    name = django_filters.CharFilter(
        lookup_expr="istartswith", help_text=_("Name starts with this text.")
    )
    tag = TagsFilter(
        queryset=Tag.objects.all(),
        method="filter_tags",
        help_text=_("Tag id; repeat to require all of the tags."),
    )
    tier = django_filters.ModelChoiceFilter(
        queryset=Tier.objects.all(), to_field_name="code", help_text=_("Tier code.")
    )
    store = django_filters.ModelChoiceFilter(
        field_name="home_store",
        queryset=Store.objects.all(),
        to_field_name="code",
        help_text=_("Home store code."),
    )
    guide = django_filters.ModelChoiceFilter(
        queryset=Guide.objects.all(), help_text=_("Owning guide id.")
    )
    source = django_filters.ChoiceFilter(choices=source_channels, help_text=_("Source channel."))
    consent = django_filters.ChoiceFilter(
        choices=ConsentChannel.choices,
        method="filter_consent",
        help_text=_("Only members who granted consent on this channel."),
    )
    last_purchase_after = UtcDateTimeFilter(
        field_name="last_purchase_at", lookup_expr="gte", help_text=_("Last purchase at or after.")
    )
    last_purchase_before = UtcDateTimeFilter(
        field_name="last_purchase_at", lookup_expr="lt", help_text=_("Last purchase before.")
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text=_("Joined at or after.")
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text=_("Joined before.")
    )

    class Meta:
        model = Member
        fields: list[str] = []

    def filter_tags(self, queryset: QuerySet[Member], name: str, tags) -> QuerySet[Member]:
        """Members carrying every one of ``tags``: one EXISTS per tag, so no duplicate rows
        (a join would repeat a member per matching tag and break cursor pagination)."""
        for tag in tags:
            queryset = queryset.filter(
                Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag=tag))
            )
        return queryset

    def filter_consent(self, queryset: QuerySet[Member], name: str, channel: str):
        """Members whose current consent on ``channel`` is granted."""
        return queryset.filter(
            Exists(
                Consent.objects.filter(
                    member=OuterRef("pk"), channel=channel, status=ConsentStatus.GRANTED
                )
            )
        )


# The member list's common filters, exact matches on indexed columns that the database checks
# as it filters: a page that has members proves that the store and tier codes and the guide id
# exist. They skip MemberFilter's form (which cost more than the page's statement) unless they
# find nothing; then the form runs to tell an unknown value (400) from an empty result. Other
# filters (source, whose rare values want the planner to see them, names, tags, dates...) go
# through MemberFilter.
_FAST_FILTERS = {"store", "tier", "guide"}
_FAST_PARAMS = _FAST_FILTERS | {"page_size", "cursor"}


def member_fast_filters(params) -> dict[str, object] | None:
    """The query's filters as ``{store | tier | guide: value}`` when it uses only those (each
    once, non-empty, a guide id in digits) besides the pagination parameters; else None, and
    MemberFilter handles the query. The values are what MemberFilter filters by: store and
    tier codes, guide id."""
    found: dict[str, object] = {}
    for name in params:
        if name not in _FAST_PARAMS:
            return None
        values = params.getlist(name)
        if len(values) != 1 or not values[0]:
            return None
        if name not in _FAST_FILTERS:
            continue
        value = values[0]
        if name == "guide":
            if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
                return None
            value = int(value)
        found[name] = value
    return found


def member_filter_conditions(filters: dict[str, object]) -> list[Equals]:
    """member_fast_filters' result as conditions of members.api.member_rows'
    render_member_page: codes are resolved inside the statement, so a store or tier created a
    moment ago is found at once and nothing is cached."""
    member = Member._meta
    conditions = []
    for name, field, code_table in (
        ("store", "home_store", Store._meta.db_table),
        ("tier", "tier", Tier._meta.db_table),
        ("guide", "guide", None),
    ):
        if name in filters:
            column = member.get_field(field).column
            conditions.append(Equals(column, filters[name], code_table))
    return conditions


class OrderFilter(django_filters.FilterSet):
    """Filters of the order list."""

    member = IdFilter(field_name="member_id", help_text=_("Member id."))
    store = django_filters.ModelChoiceFilter(
        queryset=Store.objects.all(), to_field_name="code", help_text=_("Store code.")
    )
    source = django_filters.CharFilter(help_text=_("Order source, exact."))
    external_id = django_filters.CharFilter(help_text=_("External id, exact."))
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    paid_after = UtcDateTimeFilter(
        field_name="paid_at", lookup_expr="gte", help_text=_("Paid at or after.")
    )
    paid_before = UtcDateTimeFilter(
        field_name="paid_at", lookup_expr="lt", help_text=_("Paid before.")
    )

    class Meta:
        model = Order
        fields: list[str] = []


class StrictBooleanField(forms.Field):
    """``true`` / ``false`` (also ``1`` / ``0``); empty means "don't filter"; anything else is
    an error. django-filter's own boolean field reads an unknown value as "don't filter",
    so ``?is_active=yes`` would quietly list everything."""

    TRUE, FALSE = ("true", "True", "1"), ("false", "False", "0")

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in self.TRUE:
            return True
        if value in self.FALSE:
            return False
        raise forms.ValidationError(_("Use true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class CouponTemplateFilter(django_filters.FilterSet):
    is_active = StrictBooleanFilter(label=_("active"))

    class Meta:
        model = CouponTemplate
        fields = ["is_active"]
