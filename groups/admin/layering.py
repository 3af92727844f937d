"""Layering rules in order, the dry run (counts per rule, nothing written) and applying it
(placed by a worker). Operators only: a guide works their store's groups."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from groups.admin.common import guide_store_id
from groups.choices import LayeringRunStatus
from groups.models import LayeringRule, LayeringRun
from groups.services.layering import layering_apply, layering_preview
from members.admin.base import ReadOnlyAdmin


def _columns(kind: str):
    common = [("position", _("position")), ("name", _("rule")), ("code", _("join code"))]
    if kind == "preview":
        return common + [
            ("matched", _("matched (first match)")),
            ("already_in_pool", _("already in the pool")),
            ("to_place", _("to place")),
            ("seats_available", _("seats free")),
            ("new_groups", _("groups to open")),
            ("unplaced", _("no seat")),
            ("error", _("problem")),
        ]
    return common + [
        ("placed", _("placed")),
        ("groups_opened", _("groups opened")),
        ("unplaced", _("no seat")),
    ]


def _table(rows: list[dict], kind: str):
    if not rows:
        return "-"
    columns = _columns(kind)
    head = format_html_join("", "<th>{}</th>", ((label,) for _key, label in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((row.get(key, ""),) for key, _l in columns)),)
            for row in rows
        ),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class OperatorsOnly:
    def has_module_permission(self, request):
        return guide_store_id(request) is None and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return guide_store_id(request) is None and super().has_view_permission(request, obj)


@admin.register(LayeringRule)
class LayeringRuleAdmin(OperatorsOnly, admin.ModelAdmin):
    list_display = ("position", "name", "segment", "join_code", "is_active")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    list_select_related = ("segment", "join_code")
    ordering = ("position", "pk")
    fields = ("position", "name", "segment", "join_code", "is_active")
    change_list_template = "admin/groups/layeringrule/change_list.html"

    def has_change_permission(self, request, obj=None):
        return guide_store_id(request) is None and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return guide_store_id(request) is None and super().has_add_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra = {"can_preview": self.has_view_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("preview/", view, name="groups_layeringrule_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """POST: count what the active rules would do, and show the run to apply."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            run = layering_preview(actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(reverse("admin:groups_layeringrule_changelist"))
        return HttpResponseRedirect(reverse("admin:groups_layeringrun_change", args=[run.pk]))


@admin.register(LayeringRun)
class LayeringRunAdmin(OperatorsOnly, ReadOnlyAdmin):
    list_display = ("id", "status", "created_by", "created_at", "applied_at", "finished_at")
    list_filter = ("status",)
    ordering = ("-pk",)
    fields = (
        "status",
        "preview_table",
        "result_table",
        "error",
        "created_by",
        "created_at",
        "applied_at",
        "finished_at",
    )
    readonly_fields = fields
    change_form_template = "admin/groups/layeringrun/change_form.html"

    @admin.display(description=_("dry run"))
    def preview_table(self, obj):
        return _table(obj.preview, "preview")

    @admin.display(description=_("result"))
    def result_table(self, obj):
        return _table(obj.result, "result")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(LayeringRun, pk=object_id)
        extra = {"can_apply": run.status == LayeringRunStatus.PREVIEWED}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view(self.apply_view)
        return [
            path("<int:pk>/apply/", view, name="groups_layeringrun_apply"),
            *super().get_urls(),
        ]

    def apply_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (
            self.has_view_permission(request)
            and request.user.has_perm("groups.change_layeringrule")
        ):
            raise PermissionDenied
        run = get_object_or_404(LayeringRun, pk=pk)
        try:
            layering_apply(run=run)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("Applied: a worker is placing the members. Reload for the result.")
            )
        return HttpResponseRedirect(reverse("admin:groups_layeringrun_change", args=[pk]))
