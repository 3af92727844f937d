"""Resolving the member set of a bulk call (ids or a filter) within what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import serializers

from members.api.filters import MemberFilter
from members.models import Member
from members.selectors import members_visible_to


def target_members(request, data: dict) -> QuerySet[Member]:
    """The members named by a validated MemberTargetSerializer, never beyond
    members_visible_to(caller): a guide bulk-tagging ids of another store tags nobody there."""
    visible = members_visible_to(request.user)
    if "members" in data:
        return visible.filter(pk__in=data["members"])
    filterset = MemberFilter(data=data["filter"], queryset=visible, request=request)
    unknown = sorted(set(data["filter"]) - set(filterset.filters))
    if unknown:
        raise serializers.ValidationError(
            {"filter": {name: [_("Unknown filter.")] for name in unknown}}
        )
    if not filterset.is_valid():
        raise serializers.ValidationError(
            {"filter": {name: list(errors) for name, errors in filterset.errors.items()}}
        )
    return filterset.qs
