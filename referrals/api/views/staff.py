"""Tree queries and operations for staff and shop systems: a member's referral summary, upline
and downline per level, attaching a referral by code, a guide's own code and poster,
programme metrics and fission leaderboards.

Object-level rules as in the members API: a guide gets 404 for another store's member, and in
lists sees only their store's members (phones masked); upline entries they may not see come
back as ``member: null``.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from members.api.base import MemberChildMixin, ScopedView
from members.api.errors import service_errors
from members.api.schema import ERROR, IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.identity import phone_mask
from members.models import Member
from members.selectors import member_should_mask, members_visible_to
from referrals import selectors
from referrals.api.serializers import (
    AttachSerializer,
    DownlineSerializer,
    GuideCodeSerializer,
    NodeSummarySerializer,
    ProgrammeMetricsSerializer,
    ReferralResultSerializer,
    StaffLeaderSerializer,
    TreeMemberSerializer,
    UplineEntrySerializer,
    referral_result,
)
from referrals.api.views.me import PNG, png_response
from referrals.choices import ReferralChannel
from referrals.metrics import programme_metrics
from referrals.models import FissionTask, Programme, Referral, ReferralCode, ReferralNode
from referrals.poster import poster_png
from referrals.services.attach import programme_in_force, referral_attach
from referrals.services.codes import referral_code_for_guide, referral_link
from scrm.api.idempotency import idempotent
from scrm.api.pagination import DefaultCursorPagination
from scrm.api.permissions import StaffOrScopedKey, is_guide, is_operator


class IsOperator(StaffOrScopedKey):
    """Operators, and API keys with the view's scope; not guides."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not is_guide(request.user)


class IsGuide(BasePermission):
    """An active shop guide (their own code and poster)."""

    def has_permission(self, request, view):
        return is_guide(request.user) and request.user.guide.is_active


def _member_row(member: dict, *, mask: bool) -> dict:
    return {
        "id": member["id"],
        "name": member["name"],
        "phone": phone_mask(member["phone"]) if mask else member["phone"],
        "status": member["status"],
    }


class TreeView(ScopedView, MemberChildMixin, generics.GenericAPIView):
    permission_classes = [StaffOrScopedKey]
    filter_backends: list = []
    pagination_class = None

    def get_node(self) -> ReferralNode:
        node = selectors.node_of(self.get_member().pk)
        if node is None:
            raise Http404
        return node


class NodeSummaryView(TreeView):
    serializer_class = NodeSummarySerializer

    @extend_schema(summary="A member's place in the referral tree and their counts")
    def get(self, request, member_id: int):
        member = self.get_member()
        node = selectors.node_of(member.pk)
        referral = Referral.objects.select_related("guide").filter(referee=member).first()
        code = ReferralCode.objects.filter(member=member, is_active=True).order_by("pk").first()
        data = {
            "member_id": member.pk,
            "depth": node.depth if node else 0,
            "invitees": node.direct_count if node else 0,
            "downline": node.downline_count if node else 0,
            "invitees_who_bought": node.qualified_count if node else 0,
            "invitees_revenue": node.revenue if node else 0,
            "referrer_id": referral.referrer_id if referral else None,
            "guide": referral.guide.name if referral and referral.guide_id else None,
            "referral_status": referral.status if referral else None,
            # Abuse flags are for operators' review, not for the guide serving the customer.
            "flags": referral.flags if referral and not is_guide(request.user) else [],
            "code": code.code if code else None,
        }
        return Response(NodeSummarySerializer(data).data)


class UplineView(TreeView):
    serializer_class = UplineEntrySerializer

    @extend_schema(
        summary="A member's upline, from the root down to their referrer",
        responses=UplineEntrySerializer(many=True),
    )
    def get(self, request, member_id: int):
        mask = member_should_mask(request.user)
        rows = selectors.upline(self.get_node(), members=members_visible_to(request.user))
        for row in rows:
            if row["member"] is not None:
                row["member"] = _member_row(row["member"], mask=mask)
        return Response(UplineEntrySerializer(rows, many=True).data)


class DownlineView(TreeView):
    serializer_class = DownlineSerializer

    @extend_schema(summary="A member's downline: total and count per level")
    def get(self, request, member_id: int):
        node = self.get_node()
        return Response(
            DownlineSerializer(
                {"total": node.downline_count, "levels": selectors.downline_levels(node)}
            ).data
        )


class PathPagination(DefaultCursorPagination):
    """One level of a downline in tree order (the index's order)."""

    ordering = ("path",)


class DownlineLevelView(ScopedView, MemberChildMixin, generics.ListAPIView):
    """The members one level of a downline holds (1 = own invitees), in tree order; only
    members the caller may see are listed."""

    permission_classes = [StaffOrScopedKey]
    serializer_class = TreeMemberSerializer
    pagination_class = PathPagination
    filter_backends: list = []
    queryset = ReferralNode.objects.none()

    def get_queryset(self):
        node = selectors.node_of(self.get_member().pk)
        if node is None:
            raise Http404
        level = self.kwargs["level"]
        if level < 1:
            raise exceptions.ValidationError({"level": ["1 or more."]})
        nodes = selectors.downline_at_level(node, level)
        if not is_operator(self.request.user) and is_guide(self.request.user):
            nodes = nodes.filter(member__in=members_visible_to(self.request.user).values("pk"))
        return nodes

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset().values("member_id", "path"))
        ids = [row["member_id"] for row in page]
        members = {
            m["id"]: m
            for m in Member.objects.filter(pk__in=ids).values("id", "name", "phone", "status")
        }
        mask = member_should_mask(request.user)
        rows = [_member_row(members[pk], mask=mask) for pk in ids if pk in members]
        return self.get_paginated_response(TreeMemberSerializer(rows, many=True).data)


class AttachView(ScopedView, generics.GenericAPIView):
    """A shop system or staff member records that a member signed up with a code."""

    permission_classes = [StaffOrScopedKey]
    serializer_class = AttachSerializer
    filter_backends: list = []

    @extend_schema(
        summary="Attach a referral to a new member by code",
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: ReferralResultSerializer,
            400: VALIDATION_ERROR,
            404: OpenApiResponse(ERROR, description="No such member, or not one of yours."),
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def post(self, request):
        return idempotent(request, lambda: self._attach(request))

    def _attach(self, request) -> Response:
        attach = AttachSerializer(data=request.data)
        attach.is_valid(raise_exception=True)
        data = attach.validated_data
        member = get_object_or_404(members_visible_to(request.user), pk=data["member"])
        channel = ReferralChannel.API if request.user.pk is None else ReferralChannel.ADMIN
        with service_errors():
            referral = referral_attach(
                member=member,
                code=data["code"],
                channel=channel,
                device_id=data.get("device_id", ""),
            )
        return Response(ReferralResultSerializer(referral_result(referral)).data)


class GuideCodeView(generics.GenericAPIView):
    """A shop guide's own code (导购码): customers who sign up with it are theirs."""

    permission_classes = [IsGuide]
    serializer_class = GuideCodeSerializer
    filter_backends: list = []

    @extend_schema(summary="My guide code, link and referrals")
    def get(self, request):
        guide = request.user.guide
        with service_errors():
            code = referral_code_for_guide(guide=guide)
        return Response(
            GuideCodeSerializer(
                {
                    "code": code.code,
                    "link": referral_link(code),
                    "poster_url": reverse("referral-guide-poster"),
                    "referrals": Referral.objects.filter(guide=guide).count(),
                }
            ).data
        )


class GuidePosterView(generics.GenericAPIView):
    permission_classes = [IsGuide]
    filter_backends: list = []

    @extend_schema(summary="My guide poster (PNG)", responses=PNG)
    def get(self, request):
        with service_errors():
            code = referral_code_for_guide(guide=request.user.guide)
        programme = programme_in_force()
        png = poster_png(
            code=code.code,
            link=referral_link(code),
            title=programme.poster_title if programme else "",
        )
        return png_response(png, filename=f"guide-{code.code}.png")


class ProgrammeMetricsView(ScopedView, generics.GenericAPIView):
    permission_classes = [IsOperator]
    serializer_class = ProgrammeMetricsSerializer
    filter_backends: list = []

    @extend_schema(summary="A programme's referral rate, k-factor and revenue")
    def get(self, request, programme_id: int):
        programme = get_object_or_404(Programme, pk=programme_id)
        metrics = programme_metrics(programme)
        return Response(ProgrammeMetricsSerializer(metrics.as_dict()).data)


class StaffLeaderboardView(ScopedView, generics.GenericAPIView):
    """A fission task's leaders with member ids (operators and API keys)."""

    permission_classes = [IsOperator]
    serializer_class = StaffLeaderSerializer
    filter_backends: list = []

    @extend_schema(
        summary="A fission task's leaderboard (top 50)",
        responses=StaffLeaderSerializer(many=True),
    )
    def get(self, request, task_id: int):
        task = get_object_or_404(FissionTask, pk=task_id)
        rows = [
            {"rank": rank, "member_id": p.member_id, "name": p.member.name, "count": p.count}
            for rank, p in enumerate(selectors.leaderboard(task, limit=50), start=1)
        ]
        return Response(StaffLeaderSerializer(rows, many=True).data)
