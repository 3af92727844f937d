"""Member serializers: the staff view of a member (masked for guides) and the writes."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.api.serializers.common import (
    RequiredBooleanField,
    StoreCodeField,
    StrictSerializer,
    TierCodeField,
)
from members.choices import ConsentChannel, ConsentStatus, Gender
from members.identity import email_mask, id_mask, phone_mask
from members.models import Consent, Event, Guide, Member, MemberTag

MASKED_IDS = ("unionid", "openid", "wecom_external_userid")


def member_api_queryset(queryset: QuerySet[Member]) -> QuerySet[Member]:
    """What MemberSerializer reads, fetched up front, for rendering Member instances with it
    (three queries for any number of members). The member endpoints themselves render value
    rows with members.api.member_rows, which produces the same JSON faster."""
    return queryset.select_related("home_store", "tier").prefetch_related(
        Prefetch("member_tags", queryset=MemberTag.objects.select_related("tag").order_by("pk")),
        Prefetch("consents", queryset=Consent.objects.order_by("channel")),
    )


class MemberTagSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="tag_id")
    name = serializers.CharField(source="tag.name")
    group = serializers.IntegerField(source="tag.group_id")
    source = serializers.CharField()
    tagged_at = serializers.DateTimeField(source="created_at")


class MemberSerializer(serializers.ModelSerializer):
    """A member as staff and server clients see it. Identities are masked when the context says
    so (guides without the unmask permission): the server never sends what they may not see.

    This is the documented contract (OpenAPI) and the reference rendering; the endpoints use
    members.api.member_rows.render_members for speed, and a test keeps the two identical."""

    home_store = StoreCodeField(read_only=True, allow_null=True)
    tier = TierCodeField(read_only=True, allow_null=True)
    tags = MemberTagSerializer(source="member_tags", many=True, read_only=True)
    consents = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = [
            "id",
            "name",
            "gender",
            "birthday",
            "province",
            "city",
            "phone",
            "unionid",
            "openid",
            "wecom_external_userid",
            "email",
            "source",
            "home_store",
            "guide",
            "tier",
            "status",
            "points_balance",
            "order_count",
            "total_paid",
            "total_margin",
            "first_purchase_at",
            "last_purchase_at",
            "tags",
            "consents",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": ConsentStatus.values},
            "description": "Current consent per channel; a channel missing was never asked.",
        }
    )
    def get_consents(self, member: Member) -> dict[str, str]:
        return {consent.channel: consent.status for consent in member.consents.all()}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("mask"):
            data["phone"] = phone_mask(data["phone"])
            for field in MASKED_IDS:
                data[field] = id_mask(data[field])
            data["email"] = email_mask(data["email"])
        return data


class MemberWriteSerializer(StrictSerializer):
    """Fields a PATCH or an upsert may set. Purchase stats, points, status and tokens are not
    among them: they change only through orders, the points ledger and merges."""

    name = serializers.CharField(max_length=50, allow_blank=True, required=False)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    birthday = serializers.DateField(allow_null=True, required=False)
    province = serializers.CharField(max_length=32, allow_blank=True, required=False)
    city = serializers.CharField(max_length=32, allow_blank=True, required=False)
    phone = serializers.CharField(max_length=32, allow_null=True, allow_blank=True, required=False)
    unionid = serializers.CharField(
        max_length=64, allow_null=True, allow_blank=True, required=False
    )
    openid = serializers.CharField(max_length=64, allow_null=True, allow_blank=True, required=False)
    wecom_external_userid = serializers.CharField(
        max_length=64, allow_null=True, allow_blank=True, required=False
    )
    # Validated against the brand's configurable list by the service.
    source = serializers.CharField(max_length=32, required=False)
    home_store = StoreCodeField(allow_null=True, required=False)
    guide = serializers.PrimaryKeyRelatedField(
        queryset=Guide.objects.select_related("store"), allow_null=True, required=False
    )
    tier = TierCodeField(allow_null=True, required=False)
    # Checked and normalised by the service (a blank value clears it).
    email = serializers.CharField(max_length=254, allow_null=True, allow_blank=True, required=False)

    def validate(self, attrs):
        guide, store = attrs.get("guide"), attrs.get("home_store")
        if guide is not None and store is not None and guide.store_id != store.pk:
            raise serializers.ValidationError(
                {"guide": [_("This guide works in another store than the home store.")]}
            )
        return attrs


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["channel", "status", "changed_at", "method"]
        read_only_fields = fields


class ConsentWriteSerializer(StrictSerializer):
    """Grant or withdraw consent for one purpose."""

    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    granted = RequiredBooleanField()
    method = serializers.CharField(max_length=50, required=False, allow_blank=True)


class EventSerializer(serializers.ModelSerializer):
    """One line of a member's timeline."""

    class Meta:
        model = Event
        fields = ["id", "kind", "data", "occurred_at"]
        read_only_fields = fields
