"""A member's sub-resources: timeline, orders, points ledger, coupons, consent.

Every view resolves the member through members_visible_to first, so a guide gets 404 for
another store's member here exactly as on the member itself.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from members.api.base import (
    BENEFITS_WRITE,
    MemberChildMixin,
    PaidAtPagination,
    ScopedView,
    TimelinePagination,
)
from members.api.errors import service_errors
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.api.serializers.benefits import (
    CouponSerializer,
    PointsChangeResultSerializer,
    PointsChangeSerializer,
    PointsEntrySerializer,
)
from members.api.serializers.members import (
    ConsentSerializer,
    ConsentWriteSerializer,
    EventSerializer,
)
from members.api.serializers.orders import OrderSerializer
from members.choices import PointsKind
from members.models import Consent, Coupon, Event, Order, PointsEntry
from members.selectors import member_timeline
from members.services.benefits import points_adjust, points_earn, points_spend
from members.services.members import consent_set
from scrm.api.idempotency import idempotent
from scrm.api.permissions import OperatorOrScopedKey, StaffOrScopedKey
from scrm.api.principals import ApiKeyPrincipal


class _MemberListView(ScopedView, MemberChildMixin, generics.ListAPIView):
    permission_classes = [StaffOrScopedKey]
    filter_backends: list = []


class MemberTimelineView(_MemberListView):
    """The member's events (created, tagged, order paid, consent changed ...), newest first."""

    queryset = Event.objects.none()
    serializer_class = EventSerializer
    pagination_class = TimelinePagination

    def get_queryset(self):
        return member_timeline(member=self.get_member())


class MemberOrdersView(_MemberListView):
    """The member's orders, latest payment first."""

    queryset = Order.objects.none()
    serializer_class = OrderSerializer
    pagination_class = PaidAtPagination

    def get_queryset(self):
        return Order.objects.filter(member=self.get_member()).select_related("store")


class MemberCouponsView(_MemberListView):
    """Coupons issued to the member, newest first."""

    queryset = Coupon.objects.none()
    serializer_class = CouponSerializer

    def get_queryset(self):
        return Coupon.objects.filter(member=self.get_member()).select_related("template")


class MemberPointsView(_MemberListView):
    """GET: the points ledger, newest first. POST: earn, spend or adjust points; operators and
    API keys with benefits:write only (guides read)."""

    queryset = PointsEntry.objects.none()
    serializer_class = PointsEntrySerializer
    permission_classes = [OperatorOrScopedKey]
    write_scope = BENEFITS_WRITE

    def get_queryset(self):
        return PointsEntry.objects.filter(member=self.get_member())

    @extend_schema(
        summary="Earn, spend or adjust points",
        request=PointsChangeSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: PointsChangeResultSerializer,
            400: VALIDATION_ERROR,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def post(self, request, member_id: int):
        return idempotent(request, lambda: self._change(request))

    def _change(self, request) -> Response:
        member = self.get_member()
        change = PointsChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        data = change.validated_data
        with service_errors():
            if data["kind"] == PointsKind.EARN:
                entry = points_earn(
                    member=member,
                    points=data["points"],
                    reason=data["reason"],
                    valid_days=data.get("valid_days"),
                )
            elif data["kind"] == PointsKind.SPEND:
                entry = points_spend(member=member, points=data["points"], reason=data["reason"])
            else:
                entry = points_adjust(member=member, points=data["points"], reason=data["reason"])
        result = {"entry": PointsEntrySerializer(entry).data, "balance": entry.balance_after}
        return Response(result, status=status.HTTP_201_CREATED)


def consent_method(request, given: str | None) -> str:
    """How consent was recorded: what the client says, else who recorded it."""
    if given:
        return given
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return f"api:{user.name}"[:50]
    return f"staff:{user.get_username()}"[:50]


class MemberConsentView(_MemberListView):
    """GET: the member's consent per channel. POST: record a grant or a withdrawal."""

    queryset = Consent.objects.none()
    serializer_class = ConsentSerializer
    pagination_class = None

    def get_queryset(self):
        return Consent.objects.filter(member=self.get_member()).order_by("channel")

    @extend_schema(
        summary="Grant or withdraw consent",
        request=ConsentWriteSerializer,
        responses={200: ConsentSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request, member_id: int):
        member = self.get_member()
        change = ConsentWriteSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        data = change.validated_data
        with service_errors():
            consent = consent_set(
                member=member,
                channel=data["channel"],
                granted=data["granted"],
                method=consent_method(request, data.get("method")),
            )
        return Response(ConsentSerializer(consent).data)
