"""Group memberships: who is in which group, since when, how they joined, and why they left.
A read-only record; seats change through joins, invitations, leaving and dissolution."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from groups.admin.common import guide_store_id, member_link
from groups.models import GroupMembership
from members.admin.base import BigTableAdmin, ReadOnlyAdmin
from members.selectors import members_visible_to


class CurrentFilter(admin.SimpleListFilter):
    title = _("in the group now")
    parameter_name = "current"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("left"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(left_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(left_at__isnull=False)
        return queryset


@admin.register(GroupMembership)
class GroupMembershipAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = (
        "id",
        "member_col",
        "group",
        "how",
        "code",
        "invited_by",
        "joined_at",
        "left_at",
        "left_reason",
    )
    list_filter = (CurrentFilter, "how", "left_reason")
    list_select_related = ("group", "code", "invited_by")
    search_fields = ("=member__id", "=group__id")
    search_help_text = _("Member id or group id.")
    ordering = ("-id",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        store_id = guide_store_id(request)
        if store_id is None:
            return queryset
        visible = members_visible_to(request.user).values("pk")
        return queryset.filter(group__store_id=store_id, member__in=visible)

    def lookup_allowed(self, lookup, value, request):
        # The group's stats page links here filtered by group.
        return lookup == "group__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("member"), ordering="member_id")
    def member_col(self, obj):
        return member_link(obj.member_id)
