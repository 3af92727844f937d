"""Orders, benefits and the logs: read-only in the admin (written by services, imports and the
API), scoped to a guide's store where they hang off a member."""

from __future__ import annotations

import contextlib

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import path
from django.utils.translation import gettext_lazy as _

from members.admin.base import BigTableAdmin, MemberScopedAdmin, ReadOnlyAdmin, guide_restricted
from members.admin.member_page import CsvImportView
from members.events import EventKind
from members.identity import phone_normalise
from members.models import (
    AuditLog,
    Coupon,
    CouponTemplate,
    Event,
    MemberMerge,
    Order,
    PointsEntry,
)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin, MemberScopedAdmin):
    list_display = ("external_id", "source", "member", "store", "paid_amount", "status", "paid_at")
    list_select_related = ("member", "store")
    list_filter = ("status", "store")
    search_fields = ("=external_id", "=member__phone")
    search_help_text = _("Order external id, or the member's phone in any format.")
    ordering = ("-paid_at",)
    change_list_template = "admin/members/change_list_import.html"

    def has_import_permission(self, request):
        return not guide_restricted(request) and request.user.has_perm("members.add_order")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(external_id=term)
        with contextlib.suppress(ValidationError):
            condition |= Q(member__phone=phone_normalise(term))
        return queryset.filter(condition), False

    def changelist_view(self, request, extra_context=None):
        extra = {"has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = CsvImportView.as_view(model_admin=self, kind="orders")
        return [
            path("import/", self.admin_site.admin_view(view), name="members_order_import"),
            *super().get_urls(),
        ]


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "value",
        "threshold",
        "valid_days",
        "issued_count",
        "total_quantity",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("issued_count", "created_at")


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin, MemberScopedAdmin):
    list_display = ("code", "template", "member", "status", "issued_at", "expires_at")
    list_select_related = ("template", "member")
    list_filter = ("status", "template")
    search_fields = ("=code",)
    ordering = ("-id",)


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin, MemberScopedAdmin):
    list_display = ("created_at", "member", "kind", "delta", "balance_after", "reason")
    list_select_related = ("member",)
    list_filter = ("kind",)
    search_fields = ("=member__id",)
    search_help_text = _("Member id.")
    ordering = ("-id",)


class EventKindFilter(admin.SimpleListFilter):
    """Kinds written by the members app (a fixed list: no SELECT DISTINCT over the log)."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = sorted(v for k, v in vars(EventKind).items() if k.isupper())
        return [(kind, kind) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin, MemberScopedAdmin):
    list_display = ("occurred_at", "member", "kind", "dispatched_at")
    list_select_related = ("member",)
    list_filter = (EventKindFilter,)
    search_fields = ("=member__id",)
    search_help_text = _("Member id.")
    ordering = ("-id",)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ("at", "action", "actor_label", "target")
    list_filter = ("action",)
    search_fields = ("target", "actor_label")
    ordering = ("-at",)


@admin.register(MemberMerge)
class MemberMergeAdmin(ReadOnlyAdmin):
    list_display = ("merged_at", "merged_member_id", "survivor", "merged_by")
    list_select_related = ("survivor", "merged_by")
    search_fields = ("=merged_member_id", "=survivor__id")
    ordering = ("-merged_at",)
