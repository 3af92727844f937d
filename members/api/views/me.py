"""The mini-program: WeChat sign-in, and the signed-in member's own profile, points, coupons,
orders and consent. A member token reaches nothing else."""

from __future__ import annotations

from django.db import IntegrityError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from members.api.auth import MemberTokenAuthentication, member_token_issue
from members.api.base import PaidAtPagination
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from members.api.serializers.benefits import CouponSerializer, PointsEntrySerializer
from members.api.serializers.me import (
    MeConsentSerializer,
    MeSerializer,
    MeUpdateSerializer,
    WeChatLoginResultSerializer,
    WeChatLoginSerializer,
)
from members.api.serializers.members import ConsentWriteSerializer
from members.api.serializers.orders import OrderSerializer
from members.choices import ConsentChannel, ConsentStatus
from members.models import Consent, Coupon, Member, Order, PointsEntry
from members.services.members import consent_set, member_resolve, member_update, member_upsert
from members.wechat import WeChatLoginError, WeChatSession, wechat_client
from scrm.api.permissions import IsMember
from scrm.api.throttles import LoginThrottle

MINIPROGRAM = "miniprogram"


class WeChatUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = gettext_lazy("WeChat could not be reached; try again.")
    default_code = "wechat_unavailable"


def _member_for_session(session: WeChatSession) -> Member:
    """Find the member owning the WeChat ids, or create one from the mini-program. An existing
    member keeps their source channel: signing in is not where they came from."""
    identities = {"openid": session.openid}
    if session.unionid:
        identities["unionid"] = session.unionid

    def upsert() -> Member:
        existing = member_resolve(**identities)
        extra = {} if existing else {"source": MINIPROGRAM}
        return member_upsert(**identities, **extra)[0]

    try:
        return upsert()
    except IntegrityError:
        # Two first sign-ins raced to create the member; the loser finds it on a second look.
        return upsert()


class WeChatLoginView(generics.GenericAPIView):
    """Exchange a wx.login() code for a member token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]
    serializer_class = WeChatLoginSerializer

    @extend_schema(
        summary="Sign in from the mini-program",
        responses={200: WeChatLoginResultSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request):
        login = self.get_serializer(data=request.data)
        login.is_valid(raise_exception=True)
        try:
            session = wechat_client().code_to_session(login.validated_data["code"])
        except WeChatLoginError as exc:
            raise serializers.ValidationError(
                {"code": [_("WeChat did not accept this login code.")]}
            ) from exc
        except OSError as exc:  # network errors and timeouts talking to WeChat
            raise WeChatUnavailable() from exc
        with service_errors():
            member = _member_for_session(session)
        member = Member.objects.select_related("tier", "home_store").get(pk=member.pk)
        return Response(
            {"token": member_token_issue(member=member), "member": MeSerializer(member).data}
        )


class MeMixin:
    """The signed-in member; everything under /me/ is scoped to them."""

    # Only member tokens: a staff token or API key here is not signed in at all (401).
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
    filter_backends: list = []

    def get_me(self) -> Member:
        return Member.objects.select_related("tier", "home_store").get(
            pk=self.request.user.member_id
        )


class MeView(MeMixin, generics.GenericAPIView):
    serializer_class = MeSerializer

    @extend_schema(summary="My profile")
    def get(self, request):
        return Response(MeSerializer(self.get_me()).data)

    @extend_schema(
        summary="Update my profile (or bind my phone)",
        request=MeUpdateSerializer,
        responses={200: MeSerializer, 400: VALIDATION_ERROR},
    )
    def patch(self, request):
        change = MeUpdateSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        values = dict(change.validated_data)
        if "phone_code" in values:
            try:
                values["phone"] = wechat_client().phone_number(values.pop("phone_code"))
            except WeChatLoginError as exc:
                raise exceptions.ValidationError(
                    {"phone_code": [_("WeChat did not confirm this phone number.")]}
                ) from exc
        with service_errors():
            member_update(member=self.get_me(), **values)
        return Response(MeSerializer(self.get_me()).data)


class MePointsView(MeMixin, generics.ListAPIView):
    """My points ledger, newest first."""

    queryset = PointsEntry.objects.none()
    serializer_class = PointsEntrySerializer

    def get_queryset(self):
        return PointsEntry.objects.filter(member_id=self.request.user.member_id)


class MeCouponsView(MeMixin, generics.ListAPIView):
    """My coupons, newest first."""

    queryset = Coupon.objects.none()
    serializer_class = CouponSerializer

    def get_queryset(self):
        return Coupon.objects.filter(member_id=self.request.user.member_id).select_related(
            "template"
        )


class MeOrdersView(MeMixin, generics.ListAPIView):
    """My orders, latest payment first."""

    queryset = Order.objects.none()
    serializer_class = OrderSerializer
    pagination_class = PaidAtPagination

    def get_queryset(self):
        return Order.objects.filter(member_id=self.request.user.member_id).select_related("store")


class MeConsentView(MeMixin, generics.GenericAPIView):
    """My consent per purpose; granting and withdrawing are equally one call."""

    serializer_class = MeConsentSerializer
    pagination_class = None

    def _rows(self) -> list[dict]:
        current = {
            c.channel: c for c in Consent.objects.filter(member_id=self.request.user.member_id)
        }
        return [
            self._row(channel, label, current.get(channel))
            for channel, label in ConsentChannel.choices
        ]

    @staticmethod
    def _row(channel: str, label, consent: Consent | None) -> dict:
        return {
            "channel": channel,
            "label": str(label),
            "granted": bool(consent and consent.status == ConsentStatus.GRANTED),
            "changed_at": consent.changed_at if consent else None,
            "method": consent.method if consent else "",
        }

    @extend_schema(summary="My consent", responses=MeConsentSerializer(many=True))
    def get(self, request):
        return Response(MeConsentSerializer(self._rows(), many=True).data)

    @extend_schema(
        summary="Grant or withdraw my consent",
        request=ConsentWriteSerializer,
        responses={200: MeConsentSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request):
        change = ConsentWriteSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        data = change.validated_data
        with service_errors():
            consent = consent_set(
                member=self.get_me(),
                channel=data["channel"],
                granted=data["granted"],
                method=data.get("method") or MINIPROGRAM,
            )
        label = ConsentChannel(consent.channel).label
        return Response(MeConsentSerializer(self._row(consent.channel, label, consent)).data)
