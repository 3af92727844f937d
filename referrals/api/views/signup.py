"""Signing in from the mini-program with the referral code of the poster that opened it: the
member is created (or found) and, when new, referred in the same call."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from members.api.auth import member_token_issue
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from members.api.serializers.me import MeSerializer
from members.api.views.me import WeChatUnavailable
from members.models import Member
from members.services.members import member_resolve, member_upsert
from members.wechat import WeChatLoginError, wechat_client
from referrals.api.serializers import (
    ReferralResultSerializer,
    SignupSerializer,
    referral_result,
)
from referrals.api.views.me import device_id
from referrals.choices import ReferralChannel
from referrals.services.attach import referral_attach
from scrm.api.throttles import LoginThrottle

REFERRAL_SOURCE = "referral"


def _member_for(identities: dict, *, referred: bool) -> Member:
    """Find the member owning the WeChat ids, or create one whose source channel is
    "referral" when they came with a code (else "miniprogram")."""

    def upsert() -> Member:
        existing = member_resolve(**identities)
        extra = {} if existing else {"source": REFERRAL_SOURCE if referred else "miniprogram"}
        return member_upsert(**identities, **extra)[0]

    try:
        return upsert()
    except IntegrityError:
        # Two first sign-ins raced to create the member; the loser finds it on a second look.
        return upsert()


class SignupView(generics.GenericAPIView):
    """POST /auth/wechat/ with a referral code. The sign-in always succeeds for a good wx.login
    code; the referral is attached when the member may be referred, and otherwise the answer
    says why not in ``referral_error`` (an existing customer, an unknown code...)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]
    serializer_class = SignupSerializer

    @extend_schema(
        summary="Sign in from the mini-program with a referral code",
        responses={
            200: inline_serializer(
                "ReferralSignup",
                {
                    "token": serializers.CharField(),
                    "member": MeSerializer(),
                    "referral": ReferralResultSerializer(allow_null=True),
                    "referral_error": serializers.ListField(
                        child=serializers.CharField(), allow_null=True
                    ),
                },
            ),
            400: VALIDATION_ERROR,
        },
    )
    def post(self, request):
        signup = self.get_serializer(data=request.data)
        signup.is_valid(raise_exception=True)
        data = signup.validated_data
        try:
            session = wechat_client().code_to_session(data["code"])
        except WeChatLoginError as exc:
            raise serializers.ValidationError(
                {"code": [_("WeChat did not accept this login code.")]}
            ) from exc
        except OSError as exc:
            raise WeChatUnavailable() from exc
        identities = {"openid": session.openid}
        if session.unionid:
            identities["unionid"] = session.unionid
        referral_code = (data.get("referral_code") or "").strip()
        with service_errors():
            member = _member_for(identities, referred=bool(referral_code))
        referral, error = None, None
        if referral_code:
            try:
                referral = referral_attach(
                    member=member,
                    code=referral_code,
                    channel=ReferralChannel.SIGNUP,
                    device_id=data.get("device_id") or device_id(request),
                )
            except DjangoValidationError as exc:
                error = exc.messages
        member = Member.objects.select_related("tier", "home_store").get(pk=member.pk)
        return Response(
            {
                "token": member_token_issue(member=member),
                "member": MeSerializer(member).data,
                "referral": ReferralResultSerializer(referral_result(referral)).data
                if referral
                else None,
                "referral_error": error,
            }
        )
