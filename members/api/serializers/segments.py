"""Segments and ad-hoc rule trees."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers.common import StrictSerializer
from members.models import Segment

TREE_HELP = _(
    'A rule tree: {"all"|"any": [nodes]}, {"not": node} or {"field", "op", "value"}; '
    "GET /api/v1/segments/fields/ lists the fields and their operators."
)


class SegmentSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "tree",
            "owner",
            "cached_count",
            "counted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SegmentWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    tree = serializers.JSONField(help_text=TREE_HELP)


class TreeSerializer(StrictSerializer):
    tree = serializers.JSONField(help_text=TREE_HELP)
    sample = serializers.IntegerField(
        min_value=0, max_value=50, default=10, help_text=_("How many members to preview.")
    )


class EvaluationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    explanation = serializers.CharField()
    sample = serializers.ListField(child=serializers.DictField())


class FieldOperatorSerializer(serializers.Serializer):
    op = serializers.CharField()
    label = serializers.CharField()


class FieldChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class SegmentFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    group = serializers.CharField()
    kind = serializers.CharField()
    operators = FieldOperatorSerializer(many=True)
    choices = FieldChoiceSerializer(many=True, allow_null=True)
    help_text = serializers.CharField()
