"""Benefit actions of the member list, for operators: adjust points and issue a coupon to the
selected members. Each has an intermediate form page (member_actions.form_action) and one
set-based service call (members.services.benefits); shop guides get neither."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.admin.base import guide_restricted
from members.admin.member_actions import bound_form, form_action
from members.models import CouponTemplate
from members.services.benefits import coupons_issue, points_adjust_bulk

# Ids of refused members named in the message (the rest are counted).
REFUSED_SHOWN = 10


def has_adjust_points_permission(modeladmin, request) -> bool:
    """Operators who may write the points ledger; never shop guides."""
    return not guide_restricted(request) and request.user.has_perm("members.add_pointsentry")


def has_issue_coupon_permission(modeladmin, request) -> bool:
    """Operators who may issue coupons; never shop guides."""
    return not guide_restricted(request) and request.user.has_perm("members.add_coupon")


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("points"),
        help_text=_(
            "Positive to add, negative to deduct. A deduction larger than a member's "
            "balance is refused for that member."
        ),
    )
    reason = forms.CharField(label=_("reason"), max_length=100)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(_("Adjust by a non-zero number of points."))
        return points


class CouponIssueForm(forms.Form):
    template = forms.ModelChoiceField(
        label=_("coupon template"),
        queryset=CouponTemplate.objects.filter(is_active=True).order_by("name"),
    )
    reason = forms.CharField(label=_("reason"), max_length=100, required=False)


@admin.action(description=_("Adjust points of selected members"), permissions=["adjust_points"])
def adjust_points(modeladmin, request, queryset):
    def apply(data):
        points = data["points"]
        result = points_adjust_bulk(
            members=queryset, points=points, reason=data["reason"], actor=request.user
        )
        if result.adjusted:
            modeladmin.message_user(
                request,
                ngettext(
                    "Adjusted the points of %(n)d member by %(points)+d.",
                    "Adjusted the points of %(n)d members by %(points)+d.",
                    result.adjusted,
                )
                % {"n": result.adjusted, "points": points},
            )
        if result.refused:
            shown = ", ".join(f"#{pk}" for pk in result.refused_ids[:REFUSED_SHOWN])
            if result.refused > REFUSED_SHOWN:
                shown += " …"
            modeladmin.message_user(
                request,
                ngettext(
                    "%(n)d member has fewer than %(points)d points; their balance cannot go "
                    "below zero and was left unchanged: %(members)s.",
                    "%(n)d members have fewer than %(points)d points; their balances cannot go "
                    "below zero and were left unchanged: %(members)s.",
                    result.refused,
                )
                % {"n": result.refused, "points": -points, "members": shown},
                messages.ERROR,
            )

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(PointsAdjustForm, request),
        action="adjust_points",
        title=_("Adjust points"),
        apply=apply,
    )


@admin.action(description=_("Issue a coupon to selected members"), permissions=["issue_coupon"])
def issue_coupon(modeladmin, request, queryset):
    def apply(data):
        template = data["template"]
        issued = coupons_issue(
            template=template, members=queryset, reason=data["reason"], actor=request.user
        )
        modeladmin.message_user(
            request,
            ngettext(
                "Issued “%(template)s” to %(n)d member.",
                "Issued “%(template)s” to %(n)d members.",
                issued,
            )
            % {"n": issued, "template": template},
        )

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(CouponIssueForm, request),
        action="issue_coupon",
        title=_("Issue a coupon"),
        apply=apply,
    )
