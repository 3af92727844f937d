"""Rewards, and the review queue: held rewards that an operator approves or rejects."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.admin.base import BigTableAdmin
from referrals.admin.common import member_link, member_search
from referrals.choices import RewardStatus, flag_labels
from referrals.models import Reward
from referrals.models.rewards import RewardReview
from referrals.services.rewards import reward_approve, reward_reject


def _review(modeladmin, request, queryset, service, done_message):
    if not request.user.has_perm("referrals.change_reward"):
        raise PermissionDenied
    done = 0
    for reward in queryset.filter(status=RewardStatus.HELD).order_by("pk"):
        try:
            service(reward=reward, actor=request.user)
        except ValidationError:
            continue
        done += 1
    modeladmin.message_user(request, done_message(done) % {"n": done})


@admin.action(description=_("Approve and pay selected rewards"))
def approve_rewards(modeladmin, request, queryset):
    _review(
        modeladmin,
        request,
        queryset,
        reward_approve,
        lambda n: ngettext("Approved %(n)d reward.", "Approved %(n)d rewards.", n),
    )


@admin.action(description=_("Reject selected rewards"))
def reject_rewards(modeladmin, request, queryset):
    _review(
        modeladmin,
        request,
        queryset,
        reward_reject,
        lambda n: ngettext("Rejected %(n)d reward.", "Rejected %(n)d rewards.", n),
    )


class RewardAdminBase(BigTableAdmin):
    list_display = (
        "id",
        "beneficiary",
        "kind",
        "points",
        "coupon_template",
        "status",
        "flag_list",
        "note",
        "order",
        "created_at",
    )
    list_select_related = ("coupon_template", "order")
    list_filter = ("status", "kind", "programme")
    search_fields = ("=member__id",)
    search_help_text = _("Member who gets the reward: #id or phone.")
    ordering = ("-id",)
    # Flags as their translated labels, not the stored codes.
    readonly_fields = [f.name if f.name != "flags" else "flag_list" for f in Reward._meta.fields]
    exclude = ("flags",)

    def get_search_results(self, request, queryset, search_term):
        condition = member_search(search_term, prefix="member")
        return (queryset.filter(condition), False) if condition else (queryset, False)

    @admin.display(description=_("member"))
    def beneficiary(self, obj):
        return member_link(obj.member_id)

    @admin.display(description=_("flags"))
    def flag_list(self, obj):
        return "; ".join(flag_labels(obj.flags)) or "-"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Reviewing happens through the actions, which call the services; no field edits.
        return False


@admin.register(Reward)
class RewardAdmin(RewardAdminBase):
    pass


@admin.register(RewardReview)
class RewardReviewAdmin(RewardAdminBase):
    """Held rewards, oldest first: what an operator has to decide on."""

    actions = (approve_rewards, reject_rewards)
    list_filter = ("kind", "programme")
    ordering = ("id",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=RewardStatus.HELD)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("referrals.change_reward"):
            actions.pop("approve_rewards", None)
            actions.pop("reject_rewards", None)
        return actions
