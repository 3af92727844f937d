"""The mini-program's referral pages: my code and poster, binding a scanned code, my invitees
(masked), my rewards, fission tasks with my progress and their leaderboards. A member token
reaches only its own member's data."""

from __future__ import annotations

from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from members.api.auth import MemberTokenAuthentication
from members.api.errors import service_errors
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.models import Member
from referrals import selectors
from referrals.api.serializers import (
    BindSerializer,
    FissionTaskSerializer,
    InviteeSerializer,
    LeaderSerializer,
    MyReferralSerializer,
    ReferralResultSerializer,
    RewardSerializer,
    name_mask,
    referral_result,
)
from referrals.choices import ReferralChannel, RewardStatus
from referrals.models import FissionProgress, FissionTask, Referral, ReferralNode, Reward
from referrals.poster import poster_png
from referrals.services.abuse import fingerprints_record
from referrals.services.attach import programme_in_force, referral_attach
from referrals.services.codes import referral_code_for_member, referral_link
from scrm.api.idempotency import idempotent
from scrm.api.permissions import IsMember

DEVICE_HEADER = "X-Device-Id"
LEADERBOARD_SIZE = 20
PNG = {(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG image")}


def device_id(request) -> str:
    return request.headers.get(DEVICE_HEADER, "")


def png_response(png: bytes, *, filename: str) -> HttpResponse:
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


class MeReferralMixin:
    """Only member tokens; everything is scoped to the signed-in member."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
    filter_backends: list = []

    def get_me(self) -> Member:
        return Member.objects.get(pk=self.request.user.member_id)


class MyReferralView(MeReferralMixin, generics.GenericAPIView):
    serializer_class = MyReferralSerializer

    @extend_schema(
        summary="My referral code, link and counts",
        description=(
            "Makes the code on first use. Send the device fingerprint as X-Device-Id: it is "
            "compared (as a keyed hash) with the devices of the friends who sign up."
        ),
    )
    def get(self, request):
        me = self.get_me()
        with service_errors():
            code = referral_code_for_member(member=me)
        if device_id(request):
            fingerprints_record(member=me, device_id=device_id(request))
        node = ReferralNode.objects.filter(pk=me.pk).first()
        rewards = Reward.objects.filter(member=me)
        earned = rewards.filter(status=RewardStatus.GRANTED).aggregate(s=Sum("points"))["s"]
        return Response(
            MyReferralSerializer(
                {
                    "code": code.code,
                    "link": referral_link(code),
                    "poster_url": reverse("me-referral-poster"),
                    "referred": Referral.objects.filter(referee=me).exists(),
                    "invitees": node.direct_count if node else 0,
                    "invitees_who_bought": node.qualified_count if node else 0,
                    "points_earned": earned or 0,
                    "rewards_held": rewards.filter(status=RewardStatus.HELD).count(),
                }
            ).data
        )


class MyPosterView(MeReferralMixin, generics.GenericAPIView):
    @extend_schema(summary="My invitation poster (PNG)", responses=PNG)
    def get(self, request):
        with service_errors():
            code = referral_code_for_member(member=self.get_me())
        programme = programme_in_force()
        png = poster_png(
            code=code.code,
            link=referral_link(code),
            title=programme.poster_title if programme else "",
        )
        return png_response(png, filename=f"invite-{code.code}.png")


class BindView(MeReferralMixin, generics.GenericAPIView):
    serializer_class = BindSerializer

    @extend_schema(
        summary="Bind the referral code I scanned",
        description=(
            "Once only, for a new customer (no order yet, joined within "
            "SCRM_REFERRAL_NEW_MEMBER_HOURS). Binding the same code again returns the same "
            "answer; another code, one's own code or a code of one's own invitees is a 400."
        ),
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ReferralResultSerializer, 400: VALIDATION_ERROR, **IDEMPOTENCY_RESPONSES},
    )
    def post(self, request):
        return idempotent(request, lambda: self._bind(request))

    def _bind(self, request) -> Response:
        bind = BindSerializer(data=request.data)
        bind.is_valid(raise_exception=True)
        data = bind.validated_data
        with service_errors():
            referral = referral_attach(
                member=self.get_me(),
                code=data["code"],
                channel=ReferralChannel.SCAN,
                device_id=data.get("device_id") or device_id(request),
            )
        return Response(ReferralResultSerializer(referral_result(referral)).data)


class MyInviteesView(MeReferralMixin, generics.ListAPIView):
    """Friends I referred directly, newest first, names and phones masked."""

    serializer_class = InviteeSerializer
    queryset = Referral.objects.none()

    def get_queryset(self):
        return selectors.invitees(self.request.user.member_id)


class MyRewardsView(MeReferralMixin, generics.ListAPIView):
    """My referral rewards, newest first (held ones too, with their status)."""

    serializer_class = RewardSerializer
    queryset = Reward.objects.none()

    def get_queryset(self):
        return selectors.member_rewards(self.request.user.member_id)


class MyFissionTasksView(MeReferralMixin, generics.GenericAPIView):
    serializer_class = FissionTaskSerializer
    pagination_class = None

    @extend_schema(
        summary="Running fission tasks with my progress",
        responses=FissionTaskSerializer(many=True),
    )
    def get(self, request):
        tasks = list(
            selectors.fission_tasks_running(timezone.now()).select_related("reward_coupon")
        )
        progress = {
            p.task_id: p
            for p in FissionProgress.objects.filter(
                member_id=request.user.member_id, task__in=tasks
            )
        }
        rows = []
        for task in tasks:
            mine = progress.get(task.pk)
            task.my_count = mine.count if mine else 0
            task.reached = bool(mine and mine.reached_at)
            rows.append(task)
        return Response(FissionTaskSerializer(rows, many=True).data)


class FissionLeaderboardView(MeReferralMixin, generics.GenericAPIView):
    serializer_class = LeaderSerializer
    pagination_class = None

    @extend_schema(
        summary="A fission task's leaderboard (names masked)",
        responses=LeaderSerializer(many=True),
    )
    def get(self, request, task_id: int):
        task = get_object_or_404(FissionTask, pk=task_id, is_active=True)
        me = request.user.member_id
        rows = [
            {
                "rank": rank,
                "name": name_mask(p.member.name),
                "count": p.count,
                "me": p.member_id == me,
            }
            for rank, p in enumerate(selectors.leaderboard(task, limit=LEADERBOARD_SIZE), start=1)
        ]
        return Response(LeaderSerializer(rows, many=True).data)
