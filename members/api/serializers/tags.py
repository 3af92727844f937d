"""Tag groups, tags, and the member sets bulk calls act on."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.base import MAX_IDS_PER_CALL
from members.api.serializers.common import StrictSerializer, id_field
from members.models import Tag, TagGroup


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "group", "name", "sort", "created_at"]
        read_only_fields = fields


class TagCreateSerializer(StrictSerializer):
    group = serializers.PrimaryKeyRelatedField(queryset=TagGroup.objects.all())
    name = serializers.CharField(max_length=30)
    sort = serializers.IntegerField(min_value=0, max_value=32767, default=0)


class TagGroupSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = TagGroup
        fields = ["id", "name", "multi_select", "description", "sort", "tags"]
        read_only_fields = fields


class TagGroupCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=30)
    multi_select = serializers.BooleanField(default=True)
    description = serializers.CharField(max_length=200, allow_blank=True, default="")
    sort = serializers.IntegerField(min_value=0, max_value=32767, default=0)


class MemberTargetSerializer(StrictSerializer):
    """Which members a bulk call acts on: explicit ids (at most 10,000 per call) or a filter
    with the member list's parameters (any size, applied in one statement). Either way only
    members the caller can see are touched."""

    members = serializers.ListField(
        child=id_field(),
        min_length=1,
        max_length=MAX_IDS_PER_CALL,
        required=False,
        help_text=_("Member ids, at most 10,000."),
    )
    filter = serializers.DictField(
        required=False,
        help_text=_('Member list filters, e.g. {"store": "S001", "tag": [3, 5]}.'),
    )

    def validate(self, attrs):
        has_ids, has_filter = "members" in attrs, "filter" in attrs
        if has_ids == has_filter:
            raise serializers.ValidationError(_("Give exactly one of “members” or “filter”."))
        # An empty filter would select every member: refuse it so a client bug cannot tag or
        # reward the whole database.
        if has_filter and not attrs["filter"]:
            raise serializers.ValidationError({"filter": [_("Give at least one filter.")]})
        return attrs


class BulkTagResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text=_("Members selected and visible to you."))
    changed = serializers.IntegerField(help_text=_("Members that newly got or lost the tag."))
