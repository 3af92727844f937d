"""The mini-program's group pages: join by a scanned code, my groups, leave. A member token
reaches only its own member's seats."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from groups import selectors
from groups.api.serializers import JoinResultSerializer, JoinSerializer, MyGroupSerializer
from groups.models import CommunityGroup, GroupMembership
from groups.services.seats import group_join_by_code, group_leave
from members.api.auth import MemberTokenAuthentication
from members.api.errors import service_errors
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.models import Member
from scrm.api.idempotency import idempotent
from scrm.api.permissions import IsMember


class MeGroupsMixin:
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
    filter_backends: list = []

    def get_me(self) -> Member:
        return Member.objects.get(pk=self.request.user.member_id)


class MyGroupsView(MeGroupsMixin, generics.GenericAPIView):
    serializer_class = MyGroupSerializer
    pagination_class = None

    @extend_schema(summary="My groups", responses=MyGroupSerializer(many=True))
    def get(self, request):
        memberships = selectors.current_memberships(member_id=request.user.member_id)
        return Response(MyGroupSerializer(memberships[:200], many=True).data)


class JoinView(MeGroupsMixin, generics.GenericAPIView):
    serializer_class = JoinSerializer

    @extend_schema(
        summary="Join a group by the code I scanned",
        description=(
            "Gives me a seat in the first group of the code with room (a new group is opened "
            "when all are full); a full group is never given. Scanning again gives the same "
            "seat back (joined: false). A code that is unknown, off, over, or whose groups are "
            "all full is a 400 on code."
        ),
        parameters=[IDEMPOTENCY_KEY],
        responses={200: JoinResultSerializer, 400: VALIDATION_ERROR, **IDEMPOTENCY_RESPONSES},
    )
    def post(self, request):
        return idempotent(request, lambda: self._join(request))

    def _join(self, request) -> Response:
        join = JoinSerializer(data=request.data)
        join.is_valid(raise_exception=True)
        with service_errors():
            membership, joined = group_join_by_code(
                member=self.get_me(), code=join.validated_data["code"]
            )
        membership = GroupMembership.objects.select_related("group", "group__owner").get(
            pk=membership.pk
        )
        return Response(JoinResultSerializer({"joined": joined, "group": membership}).data)


class LeaveView(MeGroupsMixin, APIView):
    # A plain APIView: it has no body to describe (a GenericAPIView without a serializer
    # fails when an error page is rendered for the browsable API).
    @extend_schema(
        summary="Leave a group",
        description="Leaving a group I already left changes nothing; a group I was never in "
        "is a 404.",
        request=None,
        responses={204: None},
    )
    def post(self, request, group_id: int):
        me = self.get_me()
        group = get_object_or_404(
            CommunityGroup.objects.filter(memberships__member=me).distinct(), pk=group_id
        )
        group_leave(member=me, group=group)
        return Response(status=status.HTTP_204_NO_CONTENT)
