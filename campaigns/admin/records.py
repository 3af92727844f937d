"""What the engine wrote, read-only: touchpoints (the outbox), runs, and the WeCom tasks
handed to guides. Lists of touchpoints run over millions of rows: filters are on indexed
columns or fixed choices (no SELECT DISTINCT over the table), counts are estimated and
every row's campaign, member, step and variant come in the page's one query."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from campaigns.admin.common import ReadOnlyRecordAdmin, admin_link, member_link
from campaigns.channels import channels
from campaigns.models import GuideTask, Run, SkipReason, Touchpoint, Variant
from members.admin.base import BigTableAdmin
from members.identity import phone_normalise


class SkipReasonFilter(admin.SimpleListFilter):
    title = _("skipped because")
    parameter_name = "skip_reason"

    def lookups(self, request, model_admin):
        return SkipReason.choices

    def queryset(self, request, queryset):
        return queryset.filter(skip_reason=self.value()) if self.value() else queryset


class ChannelFilter(admin.SimpleListFilter):
    title = _("channel")
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return [(c.code, c.label or c.code) for c in channels() if c.audience == "members"]

    def queryset(self, request, queryset):
        return queryset.filter(channel=self.value()) if self.value() else queryset


class VariantCodeFilter(admin.SimpleListFilter):
    """Variant codes of the campaign filtered on (of every campaign otherwise): the
    variants table is small, the touchpoints one is not."""

    title = _("variant")
    parameter_name = "variant__code"

    def lookups(self, request, model_admin):
        variants = Variant.objects.order_by().values_list("code", flat=True).distinct()
        campaign = request.GET.get("campaign__id__exact", "")
        if campaign.isdigit():
            variants = variants.filter(campaign_id=int(campaign))
        return [(code, code) for code in sorted(variants)]

    def queryset(self, request, queryset):
        return queryset.filter(variant__code=self.value()) if self.value() else queryset


@admin.register(Touchpoint)
class TouchpointAdmin(ReadOnlyRecordAdmin, BigTableAdmin):
    list_display = (
        "id",
        "campaign_link",
        "member_display",
        "step_number",
        "variant_code",
        "channel",
        "state",
        "skip_reason",
        "send_after",
        "sent_at",
        "converted_at",
        "revenue",
    )
    list_filter = ("state", SkipReasonFilter, ChannelFilter, "campaign", VariantCodeFilter)
    list_select_related = ("campaign", "member", "step", "variant")
    search_fields = ("=key",)
    search_help_text = _("A member id or phone number, or a touchpoint key.")
    ordering = ("-id",)
    date_hierarchy = None
    fields = (
        "key",
        "campaign",
        "run",
        "step",
        "variant",
        "member",
        "channel",
        "state",
        "skip_reason",
        "send_after",
        "claimed_at",
        "attempts",
        "sent_at",
        "provider_id",
        "error",
        "coupon",
        "order",
        "converted_at",
        "revenue",
        "margin",
        "created_at",
    )
    raw_id_fields = ("member", "order", "coupon", "run", "step", "variant")

    def lookup_allowed(self, lookup, value, request=None):
        # Links from a campaign's pages and its runs filter by these.
        if lookup in ("campaign__id__exact", "run__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        if term.isdigit() and len(term) < 11:
            return queryset.filter(member_id=int(term)), False
        try:
            return queryset.filter(member__phone=phone_normalise(term)), False
        except ValidationError:
            return queryset.filter(key=term), False

    @admin.display(description=_("campaign"), ordering="campaign")
    def campaign_link(self, obj):
        return admin_link("campaigns_campaign", obj.campaign_id, obj.campaign.name)

    @admin.display(description=_("member"))
    def member_display(self, obj):
        return member_link(obj.member_id, obj.member.name)

    @admin.display(description=_("step"))
    def step_number(self, obj):
        return obj.step.position + 1

    @admin.display(description=_("variant"))
    def variant_code(self, obj):
        return obj.variant.code


@admin.register(Run)
class RunAdmin(ReadOnlyRecordAdmin):
    list_display = ("campaign", "slot", "status", "planned", "fanned_out_at", "created_at")
    list_filter = ("status", "campaign")
    list_select_related = ("campaign",)
    ordering = ("-slot",)
    show_facets = admin.ShowFacets.NEVER

    def lookup_allowed(self, lookup, value, request=None):
        if lookup == "campaign__id__exact":
            return True
        return super().lookup_allowed(lookup, value, request)


@admin.register(GuideTask)
class GuideTaskAdmin(ReadOnlyRecordAdmin, BigTableAdmin):
    """What guides were asked to send in WeCom, and whether they did."""

    list_display = (
        "id",
        "guide",
        "member_display",
        "campaign_name",
        "status",
        "created_at",
        "expires_at",
        "confirmed_at",
    )
    list_filter = ("status", "guide__store")
    list_select_related = ("guide", "member", "touchpoint__campaign")
    fields = (
        "guide",
        "member",
        "touchpoint",
        "text",
        "status",
        "wecom_msgid",
        "error",
        "created_at",
        "expires_at",
        "confirmed_at",
    )
    raw_id_fields = ("guide", "member", "touchpoint")
    ordering = ("-id",)

    @admin.display(description=_("member"))
    def member_display(self, obj):
        return member_link(obj.member_id, obj.member.name)

    @admin.display(description=_("campaign"))
    def campaign_name(self, obj):
        campaign = obj.touchpoint.campaign
        return admin_link("campaigns_campaign", campaign.pk, campaign.name)
