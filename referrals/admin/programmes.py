"""Programme settings (with their metrics page) and fission tasks (with their leaderboard)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from referrals import selectors
from referrals.admin.common import tree_link
from referrals.metrics import programme_metrics
from referrals.models import FissionTask, Programme

LEADERS = 20


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "is_active",
        "starts_at",
        "ends_at",
        "min_order_amount",
        "qualify_within_days",
        "referrer_points",
        "referee_points",
        "commission_level1_percent",
        "commission_level2_percent",
        "metrics_link",
    )
    list_filter = ("is_active",)
    fieldsets = (
        (None, {"fields": ("name", "is_active", ("starts_at", "ends_at"), "poster_title")}),
        (
            _("First order"),
            {
                "description": _(
                    "A referred friend's first paid order of at least the minimum, paid within "
                    "the days given after they signed up, rewards the referrer and the friend."
                ),
                "fields": (
                    ("min_order_amount", "qualify_within_days"),
                    ("referrer_points", "referrer_coupon"),
                    ("referee_points", "referee_coupon"),
                ),
            },
        ),
        (
            _("Commission (分销)"),
            {
                "description": _(
                    "Points on every order of a referred member, to the referrer and to the "
                    "referrer's referrer. Never more than two levels: three or more levels "
                    "paid by headcount is pyramid selling under Chinese law."
                ),
                "fields": (("commission_level1_percent", "commission_level2_percent"),),
            },
        ),
    )

    @admin.display(description=_("metrics"))
    def metrics_link(self, obj):
        url = reverse("admin:referrals_programme_metrics", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("referral rate, k-factor"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.metrics_view)
        return [
            path("<int:pk>/metrics/", view, name="referrals_programme_metrics"),
            *super().get_urls(),
        ]

    def metrics_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        programme = get_object_or_404(Programme, pk=pk)
        return TemplateResponse(
            request,
            "admin/referrals/programme/metrics.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": programme,
                "title": _("Metrics of %(name)s") % {"name": programme.name},
                "metrics": programme_metrics(programme),
                "leaders": list(selectors.referrer_leaderboard(limit=LEADERS)),
            },
        )


@admin.register(FissionTask)
class FissionTaskAdmin(admin.ModelAdmin):
    list_display = ("name", "counts", "goal", "starts_at", "ends_at", "reward_points", "is_active")
    list_filter = ("is_active", "counts")
    search_fields = ("name",)
    readonly_fields = ("leaderboard",)
    fields = (
        "name",
        "description",
        ("counts", "goal"),
        ("starts_at", "ends_at"),
        ("reward_points", "reward_coupon"),
        "is_active",
        "leaderboard",
    )

    @admin.display(description=_("leaderboard"))
    def leaderboard(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = selectors.leaderboard(obj, limit=LEADERS)
        if not rows:
            return _("Nobody yet.")
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li>{} — {} {}</li>",
                (
                    (
                        tree_link(p.member_id, p.member.name or f"#{p.member_id}"),
                        p.count,
                        "✓" if p.reached_at else "",
                    )
                    for p in rows
                ),
            ),
        )
