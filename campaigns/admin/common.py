"""Pieces shared by the campaigns admin: operators only, read-only records, links."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from members.admin.base import guide_restricted


class OperatorsOnlyAdmin(admin.ModelAdmin):
    """Shop guides never see campaigns, even if someone grants them the permissions: they
    work their store's customers (and their WeCom tasks, in the guide workspace)."""

    def has_module_permission(self, request):
        return not guide_restricted(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return not guide_restricted(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_delete_permission(request, obj)


class ReadOnlyRecordAdmin(OperatorsOnlyAdmin):
    """Records the engine writes (runs, touchpoints, guide tasks): looked at, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def admin_link(model_name: str, pk, label) -> str:
    if not pk:
        return "-"
    url = reverse(f"admin:{model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, label)


def member_link(member_id, name=None) -> str:
    return admin_link("members_member", member_id, name or f"#{member_id}")


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def points(value: float | None) -> str:
    """A difference of two rates in percentage points, signed."""
    if value is None:
        return "-"
    return _("%(value)+.1f pp") % {"value": value * 100}
