"""Members' privacy rights (PIPL) over the API: erasure and a copy of their data.

Staff side: operators only. Guides, API keys and member tokens get 403 before any member is
looked up, so the answer tells them nothing about which members exist. Mini-program side: the
signed-in member asks for their own copy or their own erasure.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from members.api.auth import MemberTokenAuthentication
from members.api.base import actor_user
from members.api.errors import service_errors
from members.api.schema import ERROR, VALIDATION_ERROR
from members.api.serializers.common import StrictSerializer
from members.models import Member
from members.selectors import members_visible_to
from members.services.privacy import REASON_MAX, member_data_export, member_erase
from scrm.api.permissions import IsMember, is_guide, is_operator

DATA_COPY = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description=(
        "Everything held about the member: member (profile and stats), identities, consents, "
        "tags, orders, points, coupons, events, merged_records, plus sections other apps add."
    ),
)


class IsOperator(BasePermission):
    """Staff operators only: not shop guides, API keys or members, whatever their scopes."""

    message = _("Only operators may do this.")

    def has_permission(self, request, view):
        # is_operator() is False for API keys and members (they are not users).
        return is_operator(request.user) and not is_guide(request.user)


class CanEraseMembers(IsOperator):
    """Operators holding the members.erase_members permission (the "Operators" role has it)."""

    message = _("You do not have permission to erase members.")

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perm(
            "members.erase_members"
        )


class EraseSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=REASON_MAX,
        required=False,
        allow_blank=True,
        help_text=_("Kept in the audit log, e.g. a ticket number; no personal data."),
    )


class MeEraseSerializer(StrictSerializer):
    confirm = serializers.BooleanField(
        help_text=_("Must be true: erasure cannot be undone."),
    )

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(_("Confirm the erasure with true."))
        return value


class ErasureResultSerializer(serializers.Serializer):
    member = serializers.IntegerField()
    status = serializers.CharField()
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("What was removed, by kind.")
    )


def _erased(member_id: int, counts: dict) -> Response:
    return Response({"member": member_id, "status": "erased", "counts": counts})


class MemberEraseView(APIView):
    """Erase a member's personal data at their request."""

    permission_classes = [CanEraseMembers]

    @extend_schema(
        summary="Erase a member's personal data (PIPL)",
        description=(
            "Identities and profile are wiped; tags, consents, points ledger and timeline are "
            "deleted; unredeemed coupons are voided; orders stay for accounting but no longer "
            "point to the member; the member's tokens stop working. Cannot be undone. A member "
            "already erased, or merged into another, is a 400."
        ),
        request=EraseSerializer,
        responses={
            200: ErasureResultSerializer,
            400: VALIDATION_ERROR,
            403: OpenApiResponse(ERROR, description="Not an operator allowed to erase."),
            404: OpenApiResponse(ERROR, description="No such member."),
        },
    )
    def post(self, request, member_id: int):
        # Operators see every member, so an erased or merged one is found and gets a clear 400
        # from the service rather than a 404.
        member = get_object_or_404(Member.objects.all(), pk=member_id)
        change = EraseSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        with service_errors():
            counts = member_erase(
                member=member,
                actor=actor_user(request),
                reason=change.validated_data.get("reason", ""),
            )
        return _erased(member.pk, counts)


class MemberDataView(APIView):
    """A complete copy of a member's data, for their right to a copy; audited as an export."""

    permission_classes = [IsOperator]

    @extend_schema(
        summary="A copy of everything held about a member (PIPL)",
        responses={
            200: DATA_COPY,
            403: OpenApiResponse(ERROR, description="Not an operator."),
            404: OpenApiResponse(ERROR, description="No such active member."),
        },
    )
    def get(self, request, member_id: int):
        member = get_object_or_404(members_visible_to(request.user), pk=member_id)
        return Response(member_data_export(member=member, actor=actor_user(request)))


class _MeView(APIView):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    def get_me(self) -> Member:
        return Member.objects.get(pk=self.request.user.member_id)


class MeDataView(_MeView):
    @extend_schema(summary="A copy of all my data", responses={200: DATA_COPY})
    def get(self, request):
        return Response(member_data_export(member=self.get_me(), actor=request.user))


class MeEraseView(_MeView):
    @extend_schema(
        summary="Erase my personal data",
        description=(
            'Requires {"confirm": true}. Afterwards this token, and every other token of the '
            "member, no longer works (401)."
        ),
        request=MeEraseSerializer,
        responses={200: ErasureResultSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request):
        change = MeEraseSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        member = self.get_me()
        with service_errors():
            counts = member_erase(member=member, actor=request.user, reason="requested by member")
        return _erased(member.pk, counts)
