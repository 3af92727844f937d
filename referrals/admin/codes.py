"""Referral codes and referrals (read-only records; operators deactivate codes and clear flags)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.admin.base import BigTableAdmin
from members.models import Guide
from referrals.admin.common import member_link, member_search, tree_link
from referrals.choices import flag_labels
from referrals.models import Referral, ReferralCode
from referrals.services.codes import referral_codes_for_guides, referral_link
from referrals.services.rewards import referral_clear_flags


@admin.action(description=_("Deactivate selected codes"), permissions=["change"])
def deactivate_codes(modeladmin, request, queryset):
    n = queryset.filter(is_active=True).update(is_active=False)
    modeladmin.message_user(
        request, ngettext("Deactivated %(n)d code.", "Deactivated %(n)d codes.", n) % {"n": n}
    )


@admin.register(ReferralCode)
class ReferralCodeAdmin(BigTableAdmin):
    list_display = ("code", "owner", "is_active", "created_at", "link")
    list_filter = ("is_active",)
    search_fields = ("=code",)
    list_select_related = ("guide",)
    ordering = ("-id",)
    actions = (deactivate_codes,)
    readonly_fields = ("code", "member", "guide", "created_at")
    fields = ("code", "member", "guide", "is_active", "created_at")
    change_list_template = "admin/referrals/referralcode/change_list.html"

    def has_add_permission(self, request):
        # Codes are made by the services (on first use, or for all guides below).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("owner"))
    def owner(self, obj):
        if obj.guide_id:
            return _("guide %(name)s") % {"name": obj.guide.name}
        return member_link(obj.member_id)

    @admin.display(description=_("link"))
    def link(self, obj):
        return referral_link(obj)

    def changelist_view(self, request, extra_context=None):
        extra = {"can_make_guide_codes": self.has_change_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view(self.guide_codes_view)
        return [
            path("guides/", view, name="referrals_referralcode_guides"),
            *super().get_urls(),
        ]

    def guide_codes_view(self, request):
        """POST: give every active guide without a code one."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        made = referral_codes_for_guides(guides=Guide.objects.all())
        messages.success(
            request,
            ngettext("Made %(n)d guide code.", "Made %(n)d guide codes.", made) % {"n": made},
        )
        return HttpResponseRedirect(reverse("admin:referrals_referralcode_changelist"))


class FlaggedFilter(admin.SimpleListFilter):
    title = _("flags")
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", _("flagged, not cleared")), ("no", _("not flagged or cleared"))]

    def queryset(self, request, queryset):
        flagged = queryset.exclude(flags=[]).filter(cleared_at__isnull=True)
        if self.value() == "yes":
            return flagged
        if self.value() == "no":
            return queryset.exclude(pk__in=flagged.values("pk"))
        return queryset


@admin.action(description=_("Trust selected referrals (clear flags, pay held rewards)"))
def clear_flags(modeladmin, request, queryset):
    if not request.user.has_perm("referrals.change_referral"):
        raise PermissionDenied
    approved = 0
    for referral in queryset.exclude(flags=[]).filter(cleared_at__isnull=True):
        approved += referral_clear_flags(referral=referral, actor=request.user)
    modeladmin.message_user(
        request,
        ngettext("%(n)d held reward paid.", "%(n)d held rewards paid.", approved) % {"n": approved},
    )


@admin.register(Referral)
class ReferralAdmin(BigTableAdmin):
    list_display = (
        "id",
        "referee_link",
        "referrer_link",
        "guide",
        "programme",
        "channel",
        "status",
        "flag_list",
        "attached_at",
        "qualified_at",
    )
    list_filter = ("status", FlaggedFilter, "channel", "programme")
    list_select_related = ("guide", "programme")
    search_fields = ("=referee__id",)
    search_help_text = _("Referred member: #id or phone.")
    ordering = ("-id",)
    actions = (clear_flags,)
    # The detail page shows flags as their translated labels, not the stored codes.
    exclude = ("flags",)
    readonly_fields = ("flag_list",)

    def get_search_results(self, request, queryset, search_term):
        condition = member_search(search_term, prefix="referee")
        return (queryset.filter(condition), False) if condition else (queryset, False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing is the detail page; the one change (trusting flags) is the action above.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("referrals.change_referral"):
            actions.pop("clear_flags", None)
        return actions

    @admin.display(description=_("referred member"))
    def referee_link(self, obj):
        return tree_link(obj.referee_id, f"#{obj.referee_id}")

    @admin.display(description=_("referrer"))
    def referrer_link(self, obj):
        return tree_link(obj.referrer_id, f"#{obj.referrer_id}") if obj.referrer_id else "-"

    @admin.display(description=_("flags"))
    def flag_list(self, obj):
        if not obj.flags:
            return "-"
        return "; ".join(flag_labels(obj.flags)) + (" ✓" if obj.cleared_at else "")
