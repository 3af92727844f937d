"""FilterSets of the groups API; each filter is an indexed column of the group."""

from __future__ import annotations

import django_filters

from groups.choices import GroupPurpose, GroupStatus
from groups.models import CommunityGroup, JoinCode
from members.models import Guide, Store


class GroupFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=GroupStatus.choices)
    purpose = django_filters.MultipleChoiceFilter(choices=GroupPurpose.choices)
    store = django_filters.ModelChoiceFilter(
        queryset=Store.objects.all(), to_field_name="code", field_name="store"
    )
    owner = django_filters.ModelChoiceFilter(queryset=Guide.objects.all(), field_name="owner")
    join_code = django_filters.ModelChoiceFilter(
        queryset=JoinCode.objects.all(), field_name="join_code"
    )

    class Meta:
        model = CommunityGroup
        fields = ["status", "purpose", "store", "owner", "join_code"]
