"""Community groups: the list with size and seats, the form (checked by the services), the
dissolve action, and a stats page per group (joins and leaves per day, sales while in it)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from groups import selectors
from groups.admin.common import ServiceCheckedForm, guide_store_id, limit_to_store
from groups.choices import GroupStatus
from groups.models import CommunityGroup
from groups.services.groups import group_create, group_dissolve, group_update, group_values_clean
from members.admin.base import BigTableAdmin

STATS_DAYS = 30


class GroupForm(ServiceCheckedForm):
    check = staticmethod(group_values_clean)

    class Meta:
        model = CommunityGroup
        fields = (
            "name",
            "purpose",
            "store",
            "owner",
            "capacity",
            "expires_at",
            "join_code",
            "position",
            "wecom_chat_id",
            "invite_link",
        )


@admin.action(description=_("Dissolve selected groups"), permissions=["change"])
def dissolve_groups(modeladmin, request, queryset):
    done = sum(
        1
        for pk in queryset.exclude(status=GroupStatus.DISSOLVED).values_list("pk", flat=True)
        if group_dissolve(group=pk)
    )
    modeladmin.message_user(
        request,
        ngettext("Dissolved %(n)d group.", "Dissolved %(n)d groups.", done) % {"n": done},
        messages.SUCCESS,
    )


@admin.action(description=_("Broadcast to selected groups"), permissions=["view"])
def broadcast_to_groups(modeladmin, request, queryset):
    ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:2000])
    return HttpResponseRedirect(reverse("admin:groups_groupbroadcast_add") + f"?groups={ids}")


@admin.register(CommunityGroup)
class CommunityGroupAdmin(BigTableAdmin):
    form = GroupForm
    list_display = (
        "name",
        "purpose",
        "status",
        "store",
        "owner",
        "size",
        "expires_at",
        "join_code",
        "stats_link",
    )
    list_filter = ("status", "purpose", "store")
    list_select_related = ("store", "owner", "join_code")
    search_fields = ("name", "=wecom_chat_id")
    ordering = ("-id",)
    actions = (dissolve_groups, broadcast_to_groups)
    readonly_fields = (
        "status",
        "member_count",
        "notice_sent_at",
        "dissolved_at",
        "dissolve_reason",
        "sales_orders",
        "sales_buyers",
        "sales_revenue",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "purpose", ("store", "owner"), ("capacity", "expires_at"))}),
        (_("Join code pool"), {"fields": (("join_code", "position"),)}),
        (_("WeCom"), {"fields": ("wecom_chat_id", "invite_link")}),
        (
            _("State"),
            {"fields": (("status", "member_count"), "notice_sent_at", "created_at")},
        ),
        (
            _("Dissolution and sales report"),
            {
                "fields": (
                    ("dissolved_at", "dissolve_reason"),
                    ("sales_orders", "sales_buyers", "sales_revenue"),
                )
            },
        ),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        store_id = guide_store_id(request)
        return queryset if store_id is None else queryset.filter(store_id=store_id)

    def get_list_filter(self, request):
        return ("status", "purpose") if guide_store_id(request) else self.list_filter

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = limit_to_store(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # A dissolved group is a record: viewed, not changed.
        if obj is not None and obj.status == GroupStatus.DISSOLVED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Groups are dissolved, never deleted: their history and stats stay.
        return False

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        if guide_store_id(request) is not None and (not change or "store" in values):
            values["store"] = request.user.guide.store  # the form offers nothing else
        if change:
            group_update(group=obj, **values)
        else:
            obj.pk = group_create(**values).pk
        obj.refresh_from_db()

    @admin.display(description=_("members"), ordering="member_count")
    def size(self, obj):
        return f"{obj.member_count} / {obj.capacity}"

    @admin.display(description=_("stats"))
    def stats_link(self, obj):
        url = reverse("admin:groups_communitygroup_stats", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("stats"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.stats_view)
        return [
            path("<int:pk>/stats/", view, name="groups_communitygroup_stats"),
            *super().get_urls(),
        ]

    def stats_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        group = get_object_or_404(self.get_queryset(request), pk=pk)
        stats = selectors.group_stats(group, days=STATS_DAYS)
        members_url = (
            reverse("admin:groups_groupmembership_changelist") + f"?group__id__exact={group.pk}"
        )
        return TemplateResponse(
            request,
            "admin/groups/communitygroup/stats.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": group,
                "title": _("Stats of %(name)s") % {"name": group.name},
                "stats": stats,
                "days": list(reversed(stats["days"])),
                "members_url": members_url,
            },
        )
