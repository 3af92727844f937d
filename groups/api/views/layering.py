"""Layering for operators and shop systems: the rules in order, a dry run that counts what
they would do, applying a dry run (placed by a worker), and reading a run's result. Guides
work their store's groups, not the brand's layering: they get 403."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from groups.api.serializers import LayeringRuleSerializer, LayeringRunSerializer
from groups.models import LayeringRule, LayeringRun
from groups.services.layering import layering_apply, layering_preview
from members.api.base import ScopedView, actor_user
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from scrm.api.permissions import StaffOrScopedKey, is_guide


class IsOperator(StaffOrScopedKey):
    """Operators, and API keys with the view's scope; not guides."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not is_guide(request.user)


class LayeringView(ScopedView, generics.GenericAPIView):
    permission_classes = [IsOperator]
    filter_backends: list = []
    pagination_class = None


class LayeringRulesView(LayeringView):
    serializer_class = LayeringRuleSerializer

    @extend_schema(
        summary="Layering rules in the order they apply",
        responses=LayeringRuleSerializer(many=True),
    )
    def get(self, request):
        rules = LayeringRule.objects.select_related("segment", "join_code").order_by(
            "position", "pk"
        )
        return Response(LayeringRuleSerializer(rules, many=True).data)


class LayeringPreviewView(LayeringView):
    serializer_class = LayeringRunSerializer

    @extend_schema(
        summary="Dry run: count what the active rules would do",
        description="Nothing is placed. The run it returns may be applied.",
        request=None,
        responses={201: LayeringRunSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request):
        with service_errors():
            run = layering_preview(actor=actor_user(request))
        return Response(LayeringRunSerializer(run).data, status=status.HTTP_201_CREATED)


class LayeringRunView(LayeringView):
    serializer_class = LayeringRunSerializer

    @extend_schema(summary="A layering run: its dry run, status and result")
    def get(self, request, run_id: int):
        return Response(LayeringRunSerializer(get_object_or_404(LayeringRun, pk=run_id)).data)


class LayeringApplyView(LayeringView):
    serializer_class = LayeringRunSerializer

    @extend_schema(
        summary="Apply a dry run",
        description="A worker places the members; read the run for its result. A run is "
        "applied once.",
        request=None,
        responses={202: LayeringRunSerializer, 400: VALIDATION_ERROR},
    )
    def post(self, request, run_id: int):
        run = get_object_or_404(LayeringRun, pk=run_id)
        with service_errors():
            run = layering_apply(run=run)
        return Response(LayeringRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
