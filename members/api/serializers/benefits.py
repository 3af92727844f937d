"""Points ledger and coupons."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers.common import StrictSerializer, id_field
from members.api.serializers.tags import MemberTargetSerializer
from members.choices import PointsKind
from members.models import Coupon, CouponTemplate, PointsEntry
from members.selectors import orders_visible_to

# Points move in whole numbers well inside a 32-bit column.
MAX_POINTS = 10_000_000


class PointsEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsEntry
        fields = ["id", "kind", "delta", "balance_after", "reason", "order", "expires_at"]
        fields += ["created_at"]
        read_only_fields = fields


class PointsChangeSerializer(StrictSerializer):
    """Earn or spend a positive number of points, or adjust by a signed one (with a reason)."""

    kind = serializers.ChoiceField(
        choices=[
            (kind, PointsKind(kind).label)
            for kind in (PointsKind.EARN, PointsKind.SPEND, PointsKind.ADJUST)
        ]
    )
    points = serializers.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS)
    reason = serializers.CharField(max_length=100, allow_blank=True, default="")
    valid_days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Earned points lapse after this many days (default: the brand's setting)."),
    )

    def validate(self, attrs):
        kind, points = attrs["kind"], attrs["points"]
        if kind in (PointsKind.EARN, PointsKind.SPEND) and points <= 0:
            raise serializers.ValidationError(
                {"points": [_("Points to earn or spend must be a positive whole number.")]}
            )
        if kind != PointsKind.EARN and "valid_days" in attrs:
            raise serializers.ValidationError(
                {"valid_days": [_("Only earned points have a validity.")]}
            )
        return attrs


class PointsChangeResultSerializer(serializers.Serializer):
    entry = PointsEntrySerializer()
    balance = serializers.IntegerField()


class CouponTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CouponTemplate
        fields = ["id", "name", "value", "threshold", "valid_days", "total_quantity"]
        fields += ["issued_count", "is_active", "created_at"]
        read_only_fields = fields


class CouponTemplateBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = CouponTemplate
        fields = ["id", "name", "value", "threshold"]
        read_only_fields = fields


class CouponSerializer(serializers.ModelSerializer):
    template = CouponTemplateBriefSerializer(read_only=True)

    class Meta:
        model = Coupon
        fields = ["id", "code", "member", "template", "status", "issued_at", "expires_at"]
        fields += ["redeemed_order", "redeemed_at"]
        read_only_fields = fields


class CouponIssueSerializer(MemberTargetSerializer):
    reason = serializers.CharField(max_length=100, allow_blank=True, default="")


class CouponIssueResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text=_("Members selected and visible to you."))
    issued = serializers.IntegerField(help_text=_("Coupons issued."))


class CouponRedeemSerializer(StrictSerializer):
    """A coupon code and the order it pays towards: by order id, or by source and external id
    (what a POS knows)."""

    code = serializers.CharField(max_length=20)
    order = id_field(required=False, help_text=_("Order id."))
    order_source = serializers.CharField(max_length=32, required=False)
    order_external_id = serializers.CharField(max_length=64, required=False)

    def validate(self, attrs):
        visible = orders_visible_to(self.context["request"].user).select_related("member")
        if "order" in attrs:
            lookup = {"pk": attrs["order"]}
        elif "order_source" in attrs and "order_external_id" in attrs:
            lookup = {"source": attrs["order_source"], "external_id": attrs["order_external_id"]}
        else:
            raise serializers.ValidationError(
                {"order": [_("Name the order by id, or by order_source and order_external_id.")]}
            )
        order = visible.filter(**lookup).first()
        if order is None:
            raise serializers.ValidationError({"order": [_("No order matches.")]})
        attrs["order"] = order
        return attrs
