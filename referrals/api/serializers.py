"""Serializers of the referrals API. Members see their invitees masked; staff see members as
the members API shows them (guides: phones masked)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers.common import StrictSerializer, id_field
from members.identity import phone_mask
from referrals.choices import FissionCounts, ReferralStatus, RewardKind, RewardStatus
from referrals.services.abuse import DEVICE_ID_MAX


def name_mask(name: str | None) -> str:
    """张三丰 -> 张**: enough for a member to recognise a friend, not to identify a stranger."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * min(max(len(name) - 1, 1), 4)


class MyReferralSerializer(serializers.Serializer):
    code = serializers.CharField()
    link = serializers.URLField(help_text=_("What the QR code on the poster opens."))
    poster_url = serializers.CharField()
    referred = serializers.BooleanField(help_text=_("Whether I was referred myself."))
    invitees = serializers.IntegerField()
    invitees_who_bought = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    rewards_held = serializers.IntegerField(help_text=_("Rewards waiting for a review."))


class BindSerializer(StrictSerializer):
    code = serializers.CharField(max_length=32, help_text=_("The referral code scanned."))
    device_id = serializers.CharField(
        max_length=DEVICE_ID_MAX,
        required=False,
        allow_blank=True,
        help_text=_("The mini-program's device fingerprint, for the abuse checks."),
    )


class ReferralResultSerializer(serializers.Serializer):
    referrer = serializers.CharField(allow_null=True, help_text=_("Masked name."))
    guide = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    attached_at = serializers.DateTimeField()
    qualify_by = serializers.DateTimeField(allow_null=True)


def referral_result(referral) -> dict:
    referrer = referral.referrer
    return {
        "referrer": name_mask(referrer.name) if referrer else None,
        "guide": referral.guide.name if referral.guide_id else None,
        "status": referral.status,
        "attached_at": referral.attached_at,
        "qualify_by": referral.qualify_by,
    }


class InviteeSerializer(serializers.Serializer):
    """One friend I referred, masked: the first character of the name and 138****1234."""

    name = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    joined_at = serializers.DateTimeField(source="attached_at")
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    status_label = serializers.CharField(source="get_status_display")
    bought = serializers.SerializerMethodField()

    def get_name(self, referral) -> str:
        return name_mask(referral.referee.name)

    def get_phone(self, referral) -> str | None:
        return phone_mask(referral.referee.phone)

    def get_bought(self, referral) -> bool:
        return referral.status == ReferralStatus.QUALIFIED


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=RewardKind.choices)
    kind_label = serializers.CharField(source="get_kind_display")
    points = serializers.IntegerField()
    coupon = serializers.CharField(source="coupon_template.name", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=RewardStatus.choices)
    status_label = serializers.CharField(source="get_status_display")
    task = serializers.CharField(source="task.name", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    granted_at = serializers.DateTimeField(allow_null=True)


class FissionTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    counts = serializers.ChoiceField(choices=FissionCounts.choices)
    goal = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reward_points = serializers.IntegerField()
    reward_coupon = serializers.CharField(
        source="reward_coupon.name", allow_null=True, default=None
    )
    my_count = serializers.IntegerField()
    reached = serializers.BooleanField()


class LeaderSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()
    me = serializers.BooleanField()


class SignupSerializer(StrictSerializer):
    code = serializers.CharField(max_length=128, help_text=_("The code from wx.login()."))
    referral_code = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text=_("From the scanned poster.")
    )
    device_id = serializers.CharField(max_length=DEVICE_ID_MAX, required=False, allow_blank=True)


# --- staff -----------------------------------------------------------------------------------


class TreeMemberSerializer(serializers.Serializer):
    """A member in a tree answer, as the caller may see them (phones masked for guides)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    status = serializers.CharField()


class UplineEntrySerializer(serializers.Serializer):
    depth = serializers.IntegerField()
    member = TreeMemberSerializer(
        allow_null=True, help_text=_("Null for a member you may not see.")
    )


class LevelCountSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    count = serializers.IntegerField()


class DownlineSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    levels = LevelCountSerializer(many=True)


class NodeSummarySerializer(serializers.Serializer):
    member_id = serializers.IntegerField()
    depth = serializers.IntegerField()
    invitees = serializers.IntegerField()
    downline = serializers.IntegerField()
    invitees_who_bought = serializers.IntegerField()
    invitees_revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    referrer_id = serializers.IntegerField(allow_null=True)
    guide = serializers.CharField(allow_null=True)
    referral_status = serializers.CharField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())
    code = serializers.CharField(allow_null=True)


class AttachSerializer(StrictSerializer):
    member = id_field()
    code = serializers.CharField(max_length=32)
    device_id = serializers.CharField(max_length=DEVICE_ID_MAX, required=False, allow_blank=True)


class StaffLeaderSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    member_id = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class GuideCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    link = serializers.URLField()
    poster_url = serializers.CharField()
    referrals = serializers.IntegerField()


class ProgrammeMetricsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    active_members = serializers.IntegerField()
    signups = serializers.IntegerField()
    new_buyers = serializers.IntegerField()
    referrers_with_new_buyer = serializers.IntegerField()
    referral_rate = serializers.FloatField()
    k_factor = serializers.FloatField()
    k_factor_signups = serializers.FloatField()
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
