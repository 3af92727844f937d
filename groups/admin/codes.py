"""Join codes (群活码): the list with joins and live groups, the form (the template of the groups
a full pool opens), the pool's groups, and the QR image to download as PNG or SVG."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from groups import selectors
from groups.admin.common import ServiceCheckedForm, guide_store_id, limit_to_store
from groups.models import CommunityGroup, JoinCode
from groups.qr import qr_png, qr_svg
from groups.services.codes import (
    join_code_create,
    join_code_update,
    join_code_values_clean,
    join_link,
)


class JoinCodeForm(ServiceCheckedForm):
    check = staticmethod(join_code_values_clean)

    class Meta:
        model = JoinCode
        fields = (
            "name",
            "store",
            "is_active",
            "auto_open",
            "max_groups",
            "group_name",
            "group_purpose",
            "group_owner",
            "group_capacity",
            "group_expires_at",
        )


class PoolInline(admin.TabularInline):
    """The code's groups in the order newcomers fill them (changed on the group's page)."""

    model = CommunityGroup
    fk_name = "join_code"
    fields = ("name", "status", "member_count", "capacity", "position", "expires_at")
    readonly_fields = fields
    ordering = ("position", "pk")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("groups of this code, in the order they fill")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JoinCode)
class JoinCodeAdmin(admin.ModelAdmin):
    form = JoinCodeForm
    inlines = (PoolInline,)
    list_display = ("name", "code", "store", "is_active", "joins", "live_groups", "qr_links")
    list_filter = ("is_active", "store")
    search_fields = ("=code", "name")
    list_select_related = ("store",)
    ordering = ("-id",)
    readonly_fields = ("code", "link", "qr_preview", "joins", "live_groups", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "store", "is_active")}),
        (_("QR code"), {"fields": ("code", "link", "qr_preview", ("joins", "live_groups"))}),
        (
            _("When every group is full"),
            {
                "description": _(
                    "Newcomers go to the first open group of the pool with room. When all are "
                    "full, a new group is opened with these settings."
                ),
                "fields": (
                    ("auto_open", "max_groups"),
                    "group_name",
                    ("group_purpose", "group_owner"),
                    ("group_capacity", "group_expires_at"),
                ),
            },
        ),
    )

    def get_queryset(self, request):
        queryset = selectors.join_codes_with_counts(super().get_queryset(request))
        store_id = guide_store_id(request)
        return queryset if store_id is None else queryset.filter(store_id=store_id)

    def get_list_filter(self, request):
        return ("is_active",) if guide_store_id(request) else self.list_filter

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = limit_to_store(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # A printed code must keep answering: turn it off instead.
        return False

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        if guide_store_id(request) is not None and (not change or "store" in values):
            values["store"] = request.user.guide.store  # the form offers nothing else
        if change:
            join_code_update(code=obj, **values)
        else:
            name, store = values.pop("name"), values.pop("store", None)
            obj.pk = join_code_create(name=name, store=store, **values).pk
        obj.refresh_from_db()

    @admin.display(description=_("joins"), ordering="joins")
    def joins(self, obj):
        return getattr(obj, "joins", 0)

    @admin.display(description=_("live groups"))
    def live_groups(self, obj):
        return getattr(obj, "live_groups", 0)

    @admin.display(description=_("link"))
    def link(self, obj):
        return join_link(obj) if obj.pk else "-"

    @admin.display(description=_("QR code"))
    def qr_links(self, obj):
        png = reverse("admin:groups_joincode_qr", args=[obj.pk, "png"])
        svg = reverse("admin:groups_joincode_qr", args=[obj.pk, "svg"])
        return format_html('<a href="{}">PNG</a> · <a href="{}">SVG</a>', png, svg)

    @admin.display(description=_("QR code"))
    def qr_preview(self, obj):
        if not obj.pk:
            return _("Made when the code is saved.")
        png = reverse("admin:groups_joincode_qr", args=[obj.pk, "png"])
        svg = reverse("admin:groups_joincode_qr", args=[obj.pk, "svg"])
        return format_html(
            '<img src="{}" width="180" height="180" alt="QR"><br>'
            '<a href="{}" download>{}</a> · <a href="{}" download>{}</a>',
            png,
            png,
            _("download PNG"),
            svg,
            _("download SVG"),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.qr_view)
        return [
            path("<int:pk>/qr.<str:kind>", view, name="groups_joincode_qr"),
            *super().get_urls(),
        ]

    def qr_view(self, request, pk: int, kind: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        code = get_object_or_404(self.get_queryset(request), pk=pk)
        if kind == "svg":
            response = HttpResponse(qr_svg(join_link(code)), content_type="image/svg+xml")
        elif kind == "png":
            response = HttpResponse(qr_png(join_link(code)), content_type="image/png")
        else:
            raise PermissionDenied
        response["Content-Disposition"] = f'inline; filename="group-{code.code}.{kind}"'
        return response
