"""Coupon templates, issuing coupons to members, and redeeming a coupon against an order."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from members.api.base import BENEFITS_WRITE, NewestFirstPagination, ScopedView
from members.api.errors import service_errors
from members.api.filters import CouponTemplateFilter
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.api.serializers.benefits import (
    CouponIssueResultSerializer,
    CouponIssueSerializer,
    CouponRedeemSerializer,
    CouponSerializer,
    CouponTemplateSerializer,
)
from members.api.targets import target_members
from members.models import Coupon, CouponTemplate
from members.services.benefits import coupon_redeem, coupons_issue
from scrm.api.idempotency import idempotent
from scrm.api.permissions import OperatorOrScopedKey


@extend_schema_view(
    list=extend_schema(summary="List coupon templates"),
    retrieve=extend_schema(summary="Get a coupon template"),
)
class CouponTemplateViewSet(
    ScopedView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Coupon templates (designed in the admin). Issuing needs benefits:write or an operator."""

    queryset = CouponTemplate.objects.all()
    serializer_class = CouponTemplateSerializer
    permission_classes = [OperatorOrScopedKey]
    write_scope = BENEFITS_WRITE
    pagination_class = NewestFirstPagination
    lookup_value_regex = r"[0-9]+"
    filterset_class = CouponTemplateFilter

    @extend_schema(
        summary="Issue coupons to members",
        description=(
            "One coupon of this template to each given member (ids, at most 10,000) or each "
            "member matching a filter; all or nothing when the stock runs short."
        ),
        request=CouponIssueSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: CouponIssueResultSerializer,
            400: VALIDATION_ERROR,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        return idempotent(request, lambda: self._issue(request))

    def _issue(self, request) -> Response:
        template = self.get_object()
        target = CouponIssueSerializer(data=request.data)
        target.is_valid(raise_exception=True)
        members = target_members(request, target.validated_data)
        matched = members.count()
        with service_errors():
            issued = coupons_issue(
                template=template, members=members, reason=target.validated_data["reason"]
            )
        return Response({"matched": matched, "issued": issued})


class CouponRedeemView(ScopedView, generics.GenericAPIView):
    """Redeem a coupon code against one paid order of the coupon's owner, once."""

    serializer_class = CouponRedeemSerializer
    permission_classes = [OperatorOrScopedKey]
    write_scope = BENEFITS_WRITE

    @extend_schema(
        summary="Redeem a coupon",
        parameters=[IDEMPOTENCY_KEY],
        responses={200: CouponSerializer, 400: VALIDATION_ERROR, **IDEMPOTENCY_RESPONSES},
    )
    def post(self, request):
        return idempotent(request, lambda: self._redeem(request))

    def _redeem(self, request) -> Response:
        redeem = self.get_serializer(data=request.data)
        redeem.is_valid(raise_exception=True)
        with service_errors():
            coupon = coupon_redeem(
                code=redeem.validated_data["code"], order=redeem.validated_data["order"]
            )
        coupon = Coupon.objects.select_related("template").get(pk=coupon.pk)
        return Response(CouponSerializer(coupon).data)
