"""The mini-program's view of the signed-in member."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers.common import StoreCodeField, StrictSerializer, TierCodeField
from members.choices import ConsentChannel, Gender
from members.models import Member


class MeSerializer(serializers.ModelSerializer):
    """A member's own profile. Their own phone is shown in full; WeChat ids are left out, the
    mini-program has no use for them."""

    home_store = StoreCodeField(read_only=True, allow_null=True)
    tier = TierCodeField(read_only=True, allow_null=True)
    tier_name = serializers.CharField(
        source="tier.name", read_only=True, allow_null=True, default=None
    )

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
            "home_store",
            "tier",
            "tier_name",
            "points_balance",
            "created_at",
        ]
        read_only_fields = fields


class MeUpdateSerializer(StrictSerializer):
    """What a member may change about themselves. A phone is bound only through WeChat's
    getPhoneNumber code (``phone_code``), so nobody can claim a number that is not theirs;
    points, tier, store and consent are not here."""

    name = serializers.CharField(max_length=50, allow_blank=True, required=False)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    birthday = serializers.DateField(allow_null=True, required=False)
    province = serializers.CharField(max_length=32, allow_blank=True, required=False)
    city = serializers.CharField(max_length=32, allow_blank=True, required=False)
    phone_code = serializers.CharField(
        max_length=128,
        required=False,
        help_text=_("The code from the getPhoneNumber button; WeChat tells us the number."),
    )


class MeConsentSerializer(serializers.Serializer):
    """One purpose of consent and the member's current answer (none given yet: not granted)."""

    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    label = serializers.CharField()
    granted = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)
    method = serializers.CharField(allow_blank=True)


class WeChatLoginSerializer(StrictSerializer):
    code = serializers.CharField(max_length=128, help_text=_("The code from wx.login()."))


class WeChatLoginResultSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_("Send as “Authorization: Member <token>”."))
    member = MeSerializer()
