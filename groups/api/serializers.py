"""Serializers of the groups API. Staff see members as the members API shows them (guides:
phones masked); members see their own groups, with the owner's name only."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from groups.choices import (
    DeliveryStatus,
    GroupPurpose,
    GroupStatus,
    JoinMethod,
    LayeringRunStatus,
)
from groups.conf import MAX_CAPACITY
from groups.models import JoinCode
from members.api.serializers.common import StoreCodeField, StrictSerializer, id_field
from members.models import Guide

MAX_MEMBERS_PER_CALL = 1000


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    purpose = serializers.ChoiceField(choices=GroupPurpose.choices)
    purpose_label = serializers.CharField(source="get_purpose_display")
    status = serializers.ChoiceField(choices=GroupStatus.choices)
    status_label = serializers.CharField(source="get_status_display")
    store = serializers.CharField(source="store.code", allow_null=True, default=None)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    owner_name = serializers.CharField(source="owner.name", allow_null=True, default=None)
    capacity = serializers.IntegerField()
    member_count = serializers.IntegerField()
    seats_left = serializers.IntegerField()
    wecom_chat_id = serializers.CharField()
    invite_link = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    join_code = serializers.IntegerField(source="join_code_id", allow_null=True)
    position = serializers.IntegerField()
    dissolved_at = serializers.DateTimeField(allow_null=True)
    sales_orders = serializers.IntegerField(help_text=_("Report written when dissolved."))
    sales_buyers = serializers.IntegerField()
    sales_revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    created_at = serializers.DateTimeField()


class GroupWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    purpose = serializers.ChoiceField(choices=GroupPurpose.choices, required=False)
    store = StoreCodeField(required=False, allow_null=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Guide.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text=_("Shop guide id; a guide of the group's store."),
    )
    capacity = serializers.IntegerField(min_value=1, max_value=MAX_CAPACITY, required=False)
    wecom_chat_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    invite_link = serializers.CharField(max_length=500, required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    join_code = serializers.PrimaryKeyRelatedField(
        queryset=JoinCode.objects.all(), required=False, allow_null=True
    )
    position = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)


class GroupMemberSerializer(serializers.Serializer):
    """A current member of a group, as the caller may see them."""

    member_id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    joined_at = serializers.DateTimeField()
    how = serializers.ChoiceField(choices=JoinMethod.choices)
    invited_by = serializers.CharField(allow_null=True)


class MembersAddSerializer(StrictSerializer):
    members = serializers.ListField(child=id_field(), min_length=1, max_length=MAX_MEMBERS_PER_CALL)


class MembersAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    member_ids = serializers.ListField(child=serializers.IntegerField())


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    joins = serializers.IntegerField()
    leaves = serializers.IntegerField()


class SalesSerializer(serializers.Serializer):
    orders = serializers.IntegerField()
    buyers = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    repeat_buyers = serializers.IntegerField()
    repurchase_rate = serializers.FloatField(help_text=_("Repeat buyers ÷ buyers."))


class GroupStatsSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=GroupStatus.choices)
    size = serializers.IntegerField()
    capacity = serializers.IntegerField()
    seats_left = serializers.IntegerField()
    joins_total = serializers.IntegerField()
    leaves_total = serializers.IntegerField()
    days = DaySerializer(many=True)
    sales = SalesSerializer(help_text=_("Paid orders of members while in the group."))


# --- join codes ------------------------------------------------------------------------------


class JoinCodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    store = serializers.CharField(source="store.code", allow_null=True, default=None)
    is_active = serializers.BooleanField()
    link = serializers.CharField(help_text=_("What the QR code opens."))
    qr_png = serializers.CharField()
    qr_svg = serializers.CharField()
    joins = serializers.IntegerField(help_text=_("Members who joined through the code."))
    live_groups = serializers.IntegerField(help_text=_("Open and full groups of its pool."))
    auto_open = serializers.BooleanField()
    max_groups = serializers.IntegerField(allow_null=True)
    group_name = serializers.CharField()
    group_purpose = serializers.ChoiceField(choices=GroupPurpose.choices)
    group_owner = serializers.IntegerField(source="group_owner_id", allow_null=True)
    group_capacity = serializers.IntegerField()
    group_expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class JoinCodeWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    store = StoreCodeField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    auto_open = serializers.BooleanField(required=False)
    max_groups = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True
    )
    group_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    group_purpose = serializers.ChoiceField(choices=GroupPurpose.choices, required=False)
    group_owner = serializers.PrimaryKeyRelatedField(
        queryset=Guide.objects.filter(is_active=True), required=False, allow_null=True
    )
    group_capacity = serializers.IntegerField(min_value=1, max_value=MAX_CAPACITY, required=False)
    group_expires_at = serializers.DateTimeField(required=False, allow_null=True)


# --- layering --------------------------------------------------------------------------------


class LayeringRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    name = serializers.CharField()
    segment = serializers.IntegerField(source="segment_id")
    segment_name = serializers.CharField(source="segment.name")
    join_code = serializers.IntegerField(source="join_code_id")
    code = serializers.CharField(source="join_code.code")
    is_active = serializers.BooleanField()


class LayeringRowSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    position = serializers.IntegerField()
    name = serializers.CharField()
    segment = serializers.CharField()
    join_code_id = serializers.IntegerField()
    code = serializers.CharField()
    matched = serializers.IntegerField(required=False)
    already_in_pool = serializers.IntegerField(required=False)
    to_place = serializers.IntegerField(required=False)
    seats_available = serializers.IntegerField(required=False)
    new_groups = serializers.IntegerField(required=False)
    placed = serializers.IntegerField(required=False)
    groups_opened = serializers.IntegerField(required=False)
    unplaced = serializers.IntegerField(required=False)
    error = serializers.CharField(required=False, allow_blank=True)


class LayeringRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=LayeringRunStatus.choices)
    status_label = serializers.CharField(source="get_status_display")
    preview = LayeringRowSerializer(many=True, help_text=_("The dry run: counts per rule."))
    result = LayeringRowSerializer(many=True, help_text=_("What was placed, once applied."))
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    applied_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


# --- mini-program ----------------------------------------------------------------------------


class MyGroupSerializer(serializers.Serializer):
    """A group I am in: enough for the mini-program to show it and how to get in."""

    id = serializers.IntegerField(source="group.id")
    name = serializers.CharField(source="group.name")
    purpose = serializers.ChoiceField(source="group.purpose", choices=GroupPurpose.choices)
    purpose_label = serializers.CharField(source="group.get_purpose_display")
    owner_name = serializers.CharField(source="group.owner.name", allow_null=True, default=None)
    invite_link = serializers.CharField(
        source="group.invite_link", help_text=_("The group's QR or link, when staff set it.")
    )
    expires_at = serializers.DateTimeField(source="group.expires_at", allow_null=True)
    joined_at = serializers.DateTimeField()
    how = serializers.ChoiceField(choices=JoinMethod.choices)


class JoinSerializer(StrictSerializer):
    code = serializers.CharField(max_length=32, help_text=_("The join code scanned."))


class JoinResultSerializer(serializers.Serializer):
    joined = serializers.BooleanField(
        help_text=_("False when I already had a seat in this code's groups (that seat is given).")
    )
    group = MyGroupSerializer()


# --- broadcasts ------------------------------------------------------------------------------


class BroadcastWriteSerializer(StrictSerializer):
    text = serializers.CharField(max_length=4000, help_text=_("At most 4000 bytes (WeCom)."))
    groups = serializers.ListField(child=id_field(), min_length=1, max_length=2000)


class DeliverySerializer(serializers.Serializer):
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    owner_name = serializers.CharField(source="owner.name", allow_null=True, default=None)
    chat_ids = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    status_label = serializers.CharField(source="get_status_display")
    attempts = serializers.IntegerField()
    sent_at = serializers.DateTimeField(allow_null=True)
    provider_id = serializers.CharField(help_text=_("WeCom's msgid, once sent."))
    error = serializers.CharField()


class SkippedSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=["dissolved", "no_chat_id", "no_owner"])


class BroadcastSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    group_ids = serializers.ListField(child=serializers.IntegerField())
    skipped = SkippedSerializer(many=True, help_text=_("Groups that could not be sent to."))
    deliveries = DeliverySerializer(many=True, source="deliveries.all")
    created_at = serializers.DateTimeField()
