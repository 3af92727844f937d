"""Serializers of the campaigns API.

A campaign reads in the shape it is written (the shape campaign_create takes): ``variants``
maps codes to shares, ``steps`` lists the messages in order with one content per variant. So
a client can GET a campaign, change what it needs and PATCH it back.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from campaigns.models import CampaignKind, CampaignStatus, SkipReason, TouchpointState
from campaigns.services.editing import campaign_spec
from members.api.serializers.common import StrictSerializer, id_field
from members.models import CouponTemplate, Segment
from members.models.metrics import LifecycleStage


class CampaignContentSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(
        allow_blank=True,
        max_length=20_000,
        help_text=_("The message, with {{ variable }} placeholders."),
    )
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text=_(
            "Channel extras: template_id and fields for mini-program messages, template_code "
            "and fields for SMS; fields are templates like the body."
        ),
    )


class CampaignStepSerializer(StrictSerializer):
    delay_days = serializers.IntegerField(
        min_value=0, max_value=365, default=0, help_text=_("Days after entry (journeys).")
    )
    contents = serializers.DictField(
        child=CampaignContentSerializer(),
        help_text=_("The message of each variant, by variant code."),
    )


class _VariantsField(serializers.DictField):
    def get_attribute(self, instance):
        return campaign_spec(instance)[1]


class _StepsField(serializers.ListField):
    def get_attribute(self, instance):
        return campaign_spec(instance)[0]


class CampaignSerializer(StrictSerializer):
    """A campaign with its variants and messages. Read-only fields sent in a write are
    refused (400)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    goal = serializers.CharField(max_length=200, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=CampaignKind.choices)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    channel = serializers.CharField(
        max_length=20, help_text=_("A channel code: console, sms, email, wecom, miniprogram...")
    )
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(),
        allow_null=True,
        required=False,
        help_text=_("Segment id of the audience; null: every member reachable on the channel."),
    )
    send_at = serializers.DateTimeField(
        allow_null=True, required=False, help_text=_("One-off: when (null: at launch).")
    )
    cron_minute = serializers.CharField(max_length=60, required=False)
    cron_hour = serializers.CharField(max_length=60, required=False)
    cron_day_of_month = serializers.CharField(max_length=60, required=False)
    cron_month = serializers.CharField(max_length=60, required=False)
    cron_day_of_week = serializers.CharField(max_length=60, required=False)
    starts_at = serializers.DateTimeField(allow_null=True, required=False)
    ends_at = serializers.DateTimeField(allow_null=True, required=False)
    next_run_at = serializers.DateTimeField(read_only=True)
    entry_event = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text=_("Journeys: the event kind.")
    )
    entry_match = serializers.DictField(
        required=False, help_text=_('Journeys: values the event must carry, e.g. {"group_id": 12}.')
    )
    reenter = serializers.BooleanField(required=False)
    lifecycle_stage = serializers.ChoiceField(
        choices=LifecycleStage.choices, required=False, allow_blank=True
    )
    min_p_alive = serializers.FloatField(min_value=0, max_value=1, allow_null=True, required=False)
    exit_on_order = serializers.BooleanField(required=False)
    holdout_percent = serializers.IntegerField(min_value=0, max_value=50, required=False)
    attribution_days = serializers.IntegerField(min_value=1, max_value=90, required=False)
    coupon_template = serializers.PrimaryKeyRelatedField(
        queryset=CouponTemplate.objects.all(), allow_null=True, required=False
    )
    transactional = serializers.BooleanField(required=False)
    variants = _VariantsField(
        child=serializers.IntegerField(min_value=1, max_value=100),
        required=False,
        help_text=_('Shares by variant code, adding up to 100, e.g. {"A": 50, "B": 50}.'),
    )
    steps = _StepsField(child=CampaignStepSerializer(), max_length=50)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    launched_at = serializers.DateTimeField(read_only=True)


class CampaignTouchpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    member = serializers.IntegerField(source="member_id")
    member_name = serializers.CharField(source="member.name")
    step = serializers.IntegerField(source="step.position", help_text=_("Position, from 0."))
    variant = serializers.CharField(source="variant.code")
    channel = serializers.CharField()
    state = serializers.ChoiceField(choices=TouchpointState.choices)
    skip_reason = serializers.ChoiceField(choices=SkipReason.choices, allow_blank=True)
    send_after = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    provider_id = serializers.CharField()
    error = serializers.CharField(help_text=_("The provider's reason of a failure."))
    coupon = serializers.CharField(source="coupon.code", allow_null=True, default=None)
    converted_at = serializers.DateTimeField(allow_null=True)
    order = serializers.IntegerField(source="order_id", allow_null=True)
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    margin = serializers.DecimalField(max_digits=14, decimal_places=2)


# --- results and preview ------------------------------------------------------------------


class ComparisonGroupSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    converted = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class UpliftSerializer(serializers.Serializer):
    treatment = ComparisonGroupSerializer(
        help_text=_("Rows not held out that were sent, failed or skipped for a measured reason.")
    )
    control = ComparisonGroupSerializer(help_text=_("The holdout's rows."))
    difference = serializers.FloatField(
        allow_null=True, help_text=_("Treatment rate − holdout rate; null: not enough data.")
    )
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    enough_data = serializers.BooleanField()
    significant = serializers.BooleanField(help_text=_("The confidence interval excludes zero."))
    note = serializers.CharField()


class FiguresSerializer(serializers.Serializer):
    audience = serializers.IntegerField(help_text=_("Distinct members with a touchpoint."))
    touchpoints = serializers.IntegerField()
    pending = serializers.IntegerField()
    deferred = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    skipped_by_reason = serializers.DictField(child=serializers.IntegerField())
    converted = serializers.IntegerField(help_text=_("Sent touchpoints credited with an order."))
    conversion_rate = serializers.FloatField(
        allow_null=True, help_text=_("Converted / sent (null when nothing was sent).")
    )
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    margin = serializers.DecimalField(max_digits=16, decimal_places=2)


class VariantResultsSerializer(serializers.Serializer):
    code = serializers.CharField()
    weight = serializers.IntegerField()
    figures = FiguresSerializer()
    uplift = UpliftSerializer()


class HoldoutResultsSerializer(serializers.Serializer):
    audience = serializers.IntegerField()
    rows = serializers.IntegerField()
    converted = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class CampaignResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.pk")
    total = FiguresSerializer()
    holdout = HoldoutResultsSerializer()
    uplift = UpliftSerializer()
    variants = VariantResultsSerializer(many=True)

    def to_representation(self, results):
        return super().to_representation(
            {
                "campaign": results.campaign,
                "total": results.total,
                "holdout": {
                    "audience": results.holdout_audience,
                    "rows": results.holdout.rows,
                    "converted": results.holdout.converted,
                    "rate": results.holdout.rate,
                },
                "uplift": results.uplift,
                "variants": results.variants,
            }
        )


class PreviewQuerySerializer(StrictSerializer):
    member = id_field(required=False, help_text=_("Member id; without one, sample values."))
    step = serializers.IntegerField(min_value=0, required=False, help_text=_("Step position."))
    variant = serializers.CharField(max_length=8, required=False)


class RenderedContentSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    delay_days = serializers.IntegerField()
    variant = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    fields = serializers.DictField(child=serializers.CharField())


class CampaignPreviewSerializer(serializers.Serializer):
    member = serializers.IntegerField(allow_null=True)
    messages = RenderedContentSerializer(many=True)
