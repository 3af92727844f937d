"""Group broadcasts (群发到客户群) for staff and shop systems: queue a text for groups, read
what became of it per group owner. A guide may broadcast to their store's groups only (other
groups' ids are not found: 400); WeCom asks each owner to confirm their share."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from groups import selectors
from groups.api.serializers import BroadcastSerializer, BroadcastWriteSerializer
from groups.models import BroadcastDelivery, GroupBroadcast
from groups.services.broadcasts import group_broadcast_create
from members.api.base import ScopedView, actor_user
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from scrm.api.permissions import StaffOrScopedKey, is_guide, is_operator


@extend_schema_view(
    list=extend_schema(summary="List group broadcasts", description="Newest first."),
    retrieve=extend_schema(summary="Get a group broadcast with its deliveries"),
)
class GroupBroadcastViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = GroupBroadcast.objects.none()
    serializer_class = BroadcastSerializer
    permission_classes = [StaffOrScopedKey]
    filter_backends: list = []
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        broadcasts = GroupBroadcast.objects.prefetch_related(
            Prefetch("deliveries", BroadcastDelivery.objects.select_related("owner").order_by("pk"))
        )
        user = self.request.user
        if is_guide(user) and not is_operator(user):
            # A guide reads the broadcasts they made.
            return broadcasts.filter(created_by=user)
        return broadcasts

    @extend_schema(
        summary="Broadcast a text to groups",
        description="One WeCom task per group owner (who confirms it in WeCom). Groups without "
        "a WeCom chat id or an owner with a WeCom user id are listed in skipped.",
        request=BroadcastWriteSerializer,
        responses={201: BroadcastSerializer, 400: VALIDATION_ERROR},
    )
    def create(self, request):
        writer = BroadcastWriteSerializer(data=request.data)
        writer.is_valid(raise_exception=True)
        ids = writer.validated_data["groups"]
        groups = selectors.groups_visible_to(request.user).filter(pk__in=ids)
        with service_errors():
            broadcast = group_broadcast_create(
                text=writer.validated_data["text"], groups=groups, actor=actor_user(request)
            )
        broadcast = self.get_queryset().get(pk=broadcast.pk)
        return Response(BroadcastSerializer(broadcast).data, status=status.HTTP_201_CREATED)
