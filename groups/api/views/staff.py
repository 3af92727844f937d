"""Community groups for staff and shop systems: CRUD, current members, inviting and removing
members, stats. A group is never deleted: DELETE dissolves it (its history and stats stay).

Object-level rules as in the members API: a guide sees and changes only their store's groups
(404 for another store's, or for a brand-wide group), may only put their own store on a group,
lists only their store's members in a group (phones masked) and invites only those.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from groups import selectors
from groups.api.filters import GroupFilter
from groups.api.serializers import (
    GroupMemberSerializer,
    GroupSerializer,
    GroupStatsSerializer,
    GroupWriteSerializer,
    MembersAddedSerializer,
    MembersAddSerializer,
)
from groups.choices import LeaveReason
from groups.models import CommunityGroup
from groups.services.groups import group_create, group_dissolve, group_update
from groups.services.seats import group_leave, group_members_add
from members.api.base import ScopedView
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from members.identity import phone_mask
from members.selectors import member_should_mask, members_visible_to
from scrm.api.pagination import DefaultCursorPagination
from scrm.api.permissions import StaffOrScopedKey, is_guide, is_operator

DAYS = OpenApiParameter(
    "days", OpenApiTypes.INT, description="Days of joins and leaves, today included (1-366)."
)


def guide_of(request):
    """The calling guide, if the caller is a shop guide who is not an operator."""
    user = request.user
    return user.guide if is_guide(user) and not is_operator(user) else None


def check_guide_writes(request, values: dict, *, store_field: str = "store") -> dict:
    """A guide writes only within their store: the store is theirs (set if missing on create),
    the owner one of their store's guides, the join code one of their store's codes."""
    guide = guide_of(request)
    if guide is None:
        return values
    errors = {}
    if store_field in values and getattr(values[store_field], "pk", None) != guide.store_id:
        errors[store_field] = [_("You can only use your own store.")]
    for field in ("join_code",):
        code = values.get(field)
        if code is not None and code.store_id != guide.store_id:
            errors[field] = [_("You can only use your store's join codes.")]
    if errors:
        raise exceptions.ValidationError(errors)
    return values


class MembershipPagination(DefaultCursorPagination):
    """A group's members, latest joiners first."""

    ordering = ("-joined_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List community groups", description="Newest first."),
    retrieve=extend_schema(summary="Get a community group"),
)
class GroupViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = CommunityGroup.objects.none()
    serializer_class = GroupSerializer
    permission_classes = [StaffOrScopedKey]
    filterset_class = GroupFilter
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.groups_visible_to(self.request.user).select_related("store", "owner")

    @extend_schema(
        summary="Create a community group",
        request=GroupWriteSerializer,
        responses={201: GroupSerializer, 400: VALIDATION_ERROR},
    )
    def create(self, request):
        writer = GroupWriteSerializer(data=request.data)
        writer.is_valid(raise_exception=True)
        values = dict(writer.validated_data)
        guide = guide_of(request)
        if guide is not None:
            values.setdefault("store", guide.store)
        values = check_guide_writes(request, values)
        with service_errors():
            group = group_create(**values)
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a community group",
        request=GroupWriteSerializer(partial=True),
        responses={200: GroupSerializer, 400: VALIDATION_ERROR},
    )
    def partial_update(self, request, pk=None):
        group = self.get_object()
        writer = GroupWriteSerializer(data=request.data, partial=True)
        writer.is_valid(raise_exception=True)
        values = check_guide_writes(request, dict(writer.validated_data))
        with service_errors():
            group = group_update(group=group, **values)
        return Response(GroupSerializer(group).data)

    @extend_schema(
        summary="Dissolve a community group",
        description="Ends every member's stay and writes the sales report; the group stays "
        "readable. Dissolving a dissolved group changes nothing.",
        responses={204: None},
    )
    def destroy(self, request, pk=None):
        group_dissolve(group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="The group's current members",
        description="A guide sees their store's members only, phones masked.",
        responses=GroupMemberSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Invite members into the group",
        description="All or nothing: more newcomers than seats left is a 400. Members already "
        "in the group are skipped; a guide may invite only their store's members.",
        request=MembersAddSerializer,
        responses={200: MembersAddedSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request, pk=None):
        group = self.get_object()
        if request.method == "POST":
            return self._add_members(request, group)
        paginator = MembershipPagination()
        page = paginator.paginate_queryset(
            selectors.group_current_members(group, actor=request.user), request, view=self
        )
        mask = member_should_mask(request.user)
        rows = [
            {
                "member_id": m.member_id,
                "name": m.member.name,
                "phone": phone_mask(m.member.phone) if mask else m.member.phone,
                "joined_at": m.joined_at,
                "how": m.how,
                "invited_by": m.invited_by.name if m.invited_by_id else None,
            }
            for m in page
        ]
        return paginator.get_paginated_response(GroupMemberSerializer(rows, many=True).data)

    def _add_members(self, request, group) -> Response:
        adder = MembersAddSerializer(data=request.data)
        adder.is_valid(raise_exception=True)
        members = members_visible_to(request.user).filter(pk__in=adder.validated_data["members"])
        with service_errors():
            ids = group_members_add(group=group, members=members, invited_by=guide_of(request))
        return Response(MembersAddedSerializer({"added": len(ids), "member_ids": ids}).data)

    @extend_schema(summary="Remove a member from the group", responses={204: None})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"members/(?P<member_id>[0-9]+)",
        filter_backends=[],
    )
    def remove_member(self, request, pk=None, member_id=None):
        group = self.get_object()
        member = get_object_or_404(members_visible_to(request.user), pk=member_id)
        if group_leave(member=member, group=group, reason=LeaveReason.REMOVED) is None:
            raise exceptions.NotFound(_("This member is not in the group."))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="The group's stats", parameters=[DAYS], responses=GroupStatsSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def stats(self, request, pk=None):
        group = self.get_object()
        try:
            days = int(request.query_params.get("days", 30))
        except ValueError:
            raise exceptions.ValidationError({"days": [_("A whole number.")]}) from None
        if not 1 <= days <= selectors.MAX_STATS_DAYS:
            raise exceptions.ValidationError(
                {"days": [_("From 1 to %(max)d.") % {"max": selectors.MAX_STATS_DAYS}]}
            )
        return Response(GroupStatsSerializer(selectors.group_stats(group, days=days)).data)
