"""Sidebar filters of the member list. Each one is a single indexed condition or EXISTS."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.choices import ConsentChannel, ConsentStatus, source_channels
from members.models import Consent, Guide, MemberTag, Tag
from scrm.api.permissions import is_guide, is_operator


class TagFilter(admin.SimpleListFilter):
    """Members carrying one tag (EXISTS on member_tag, served by its (member, tag) key)."""

    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(str(tag.pk), str(tag)) for tag in Tag.objects.select_related("group")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        tagged = MemberTag.objects.filter(member=OuterRef("pk"), tag_id=int(value))
        return queryset.filter(Exists(tagged))


class SourceFilter(admin.SimpleListFilter):
    """The source channel; built-in and brand-specific ones (settings)."""

    title = _("source channel")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return source_channels()

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


class GuideFilter(admin.SimpleListFilter):
    """The owning guide; a guide is offered their own store's guides only."""

    title = _("owning guide")
    parameter_name = "guide"

    def lookups(self, request, model_admin):
        guides = Guide.objects.select_related("store")
        user = request.user
        if is_guide(user) and not is_operator(user):
            guides = guides.filter(store_id=user.guide.store_id)
        return [
            ("none", _("no guide")),
            *((str(g.pk), f"{g.name} · {g.store.code}") for g in guides),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(guide__isnull=True)
        if value and value.isdigit():
            return queryset.filter(guide_id=int(value))
        return queryset


class ConsentFilter(admin.SimpleListFilter):
    """Consent per channel: "sms" = granted, "-sms" = not granted (withdrawn or never asked)."""

    title = _("consent")
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        choices = []
        for channel, label in ConsentChannel.choices:
            choices.append((channel, _("%(channel)s: granted") % {"channel": label}))
            choices.append((f"-{channel}", _("%(channel)s: not granted") % {"channel": label}))
        return choices

    def queryset(self, request, queryset):
        value = self.value() or ""
        channel = value.lstrip("-")
        if channel not in ConsentChannel.values:
            return queryset
        granted = Exists(
            Consent.objects.filter(
                member=OuterRef("pk"), channel=channel, status=ConsentStatus.GRANTED
            )
        )
        return queryset.exclude(granted) if value.startswith("-") else queryset.filter(granted)


class LastPurchaseFilter(admin.SimpleListFilter):
    """When the member last bought: within N days, or never (index on last_purchase_at)."""

    title = _("last purchase")
    parameter_name = "last_purchase"
    DAYS = (30, 90, 180, 365)

    def lookups(self, request, model_admin):
        within = [(str(days), _("within %(n)d days") % {"n": days}) for days in self.DAYS]
        return [
            *within,
            ("over365", _("more than 365 days ago")),
            ("never", _("never")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        now = timezone.now()
        if value == "never":
            return queryset.filter(last_purchase_at__isnull=True)
        if value == "over365":
            return queryset.filter(last_purchase_at__lt=now - timedelta(days=365))
        if value and value.isdigit() and int(value) in self.DAYS:
            return queryset.filter(last_purchase_at__gte=now - timedelta(days=int(value)))
        return queryset
