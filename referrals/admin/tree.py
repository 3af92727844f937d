"""A member's place in the referral tree: upline path to the root, downline counted per level,
and one level listed at a time in tree order (a page of 50, walked by path)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from members.admin.base import BigTableAdmin
from members.models import Member
from referrals import selectors
from referrals.admin.common import member_link, member_search, tree_link
from referrals.choices import flag_labels
from referrals.models import Referral, ReferralCode, ReferralNode

LEVEL_PAGE = 50


@admin.register(ReferralNode)
class ReferralNodeAdmin(BigTableAdmin):
    list_display = (
        "member_tree",
        "depth",
        "direct_count",
        "downline_count",
        "qualified_count",
        "revenue",
        "parent_link",
    )
    search_fields = ("=member__id",)
    search_help_text = _("Member: #id or phone.")
    ordering = ("-member_id",)

    def get_search_results(self, request, queryset, search_term):
        condition = member_search(search_term, prefix="member")
        return (queryset.filter(condition), False) if condition else (queryset, False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("member"), ordering="member_id")
    def member_tree(self, obj):
        return tree_link(obj.member_id, f"#{obj.member_id}")

    @admin.display(description=_("referred by"))
    def parent_link(self, obj):
        return tree_link(obj.parent_id, f"#{obj.parent_id}") if obj.parent_id else "-"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The tree page replaces the form: nothing here is edited by hand."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        node = ReferralNode.objects.filter(pk=unquote(object_id)).first()
        if node is None:
            raise Http404
        member = Member.objects.get(pk=node.member_id)
        levels = selectors.downline_levels(node)
        try:
            level = int(request.GET.get("level") or (1 if levels else 0))
        except ValueError:
            level = 1
        after = request.GET.get("after", "")
        rows, next_after = [], None
        if level >= 1:
            nodes = selectors.downline_at_level(node, level).order_by("path")
            if after:
                nodes = nodes.filter(path__gt=after)
            page = list(
                nodes.values("member_id", "path", "direct_count", "downline_count")[
                    : LEVEL_PAGE + 1
                ]
            )
            if len(page) > LEVEL_PAGE:
                page = page[:LEVEL_PAGE]
                next_after = page[-1]["path"]
            names = dict(
                Member.objects.filter(pk__in=[r["member_id"] for r in page]).values_list(
                    "pk", "name"
                )
            )
            rows = [
                {
                    **r,
                    "link": tree_link(
                        r["member_id"], names.get(r["member_id"]) or f"#{r['member_id']}"
                    ),
                }
                for r in page
            ]
        upline = [
            {
                "depth": entry["depth"],
                "link": tree_link(
                    entry["member"]["id"], entry["member"]["name"] or f"#{entry['member']['id']}"
                ),
            }
            for entry in selectors.upline(node)
        ]
        referral = (
            Referral.objects.select_related("guide", "programme", "code")
            .filter(referee=member)
            .first()
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Referral tree of %(member)s") % {"member": member.name or f"#{member.pk}"},
            "node": node,
            "member": member,
            "member_link": member_link(member.pk, member.name or f"#{member.pk}"),
            "referral": referral,
            "flag_labels": flag_labels(referral.flags) if referral else [],
            "codes": ReferralCode.objects.filter(member=member),
            "upline": upline,
            "levels": levels,
            "level": level,
            "rows": rows,
            "next_after": next_after,
            "has_view_permission": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/referrals/referralnode/tree.html", context)
