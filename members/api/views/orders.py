"""Orders: staff and keys read them; shop backends push them, idempotently."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from members.api.base import ORDERS_WRITE, NewestFirstPagination, ScopedView
from members.api.errors import service_errors
from members.api.filters import OrderFilter
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.api.serializers.orders import OrderSerializer, OrderUpsertSerializer
from members.models import Order
from members.selectors import orders_visible_to
from members.services.orders import order_upsert
from scrm.api.idempotency import idempotent
from scrm.api.permissions import OperatorOrScopedKey


@extend_schema_view(
    list=extend_schema(summary="List orders", description="Newest first, cursor pages."),
    retrieve=extend_schema(summary="Get an order"),
)
class OrderViewSet(
    ScopedView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Orders of the members the caller can see (a guide: their store's members)."""

    queryset = Order.objects.none()
    serializer_class = OrderSerializer
    permission_classes = [OperatorOrScopedKey]
    write_scope = ORDERS_WRITE
    filterset_class = OrderFilter
    pagination_class = NewestFirstPagination
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return orders_visible_to(self.request.user).select_related("store")

    @extend_schema(
        summary="Push an order (upsert by source and external id)",
        description=(
            "Sending the same order again changes nothing (200); sending it with status "
            "“refunded” refunds it; reusing an external id with other content is a 400. "
            "The member's purchase stats and points follow the order."
        ),
        request=OrderUpsertSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: OpenApiResponse(OrderSerializer, description="Already received (or refunded)."),
            201: OpenApiResponse(OrderSerializer, description="Recorded."),
            400: VALIDATION_ERROR,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def create(self, request):
        return idempotent(request, lambda: self._upsert(request))

    def _upsert(self, request) -> Response:
        push = OrderUpsertSerializer(data=request.data, context=self.get_serializer_context())
        push.is_valid(raise_exception=True)
        with service_errors():
            order, created = order_upsert(**push.validated_data)
        return Response(self.get_serializer(order).data, status=201 if created else 200)
