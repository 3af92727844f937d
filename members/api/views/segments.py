"""Segments: saved rule trees (operators and segments:* keys), ad-hoc evaluation for rule
builders, and the field catalogue builders are drawn from."""

from __future__ import annotations

from django.http import Http404
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from members.api.base import ScopedView, actor_user
from members.api.errors import service_errors
from members.api.member_rows import render_members
from members.api.schema import VALIDATION_ERROR
from members.api.serializers.segments import (
    EvaluationSerializer,
    SegmentFieldSerializer,
    SegmentSerializer,
    SegmentWriteSerializer,
    TreeSerializer,
)
from members.models import Member, Segment
from members.segments import (
    TreeError,
    segment_field_catalogue,
    segment_members,
    tree_explain,
    tree_parse,
)
from members.services.segments import (
    segment_count_refresh,
    segment_create,
    segment_update,
)
from scrm.api.permissions import StaffOrScopedKey, is_guide

LANGUAGE = OpenApiParameter(
    "lang",
    OpenApiTypes.STR,
    description="Language of the explanation: zh-hans or en (default: the request's).",
)


class OperatorsOnly(StaffOrScopedKey):
    """Operators and keys with the segments scope; guides work their store's members, not
    the brand's segments."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not is_guide(request.user)


def _language(request) -> str:
    lang = request.query_params.get("lang") or translation.get_language()
    if lang not in ("zh-hans", "en"):
        raise exceptions.ValidationError({"lang": ["zh-hans or en."]})
    return lang


def _evaluate(tree, *, sample: int, language: str) -> dict:
    try:
        node = tree_parse(tree)
    except TreeError as exc:
        raise exceptions.ValidationError(
            {"tree": [f"{e['path']}: {e['message']}" for e in exc.errors]}
        ) from exc
    members = segment_members(node)
    ids = list(members.order_by("-pk").values_list("pk", flat=True)[:sample]) if sample else []
    return {
        "count": members.count(),
        "explanation": tree_explain(node, language=language),
        "sample": render_members(Member.objects.filter(pk__in=ids), mask=False) if ids else [],
    }


@extend_schema_view(
    list=extend_schema(summary="List segments"),
    retrieve=extend_schema(summary="Get a segment"),
    destroy=extend_schema(summary="Delete a segment"),
)
class SegmentViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Saved segments. Counting re-evaluates the tree now; relative dates ("last 30 days")
    move with the calendar in Asia/Shanghai."""

    queryset = Segment.objects.select_related("owner").order_by("name", "pk")
    serializer_class = SegmentSerializer
    permission_classes = [OperatorsOnly]
    read_scope = "segments:read"
    write_scope = "segments:write"
    pagination_class = None
    lookup_value_regex = r"[0-9]+"

    @extend_schema(
        summary="Create a segment",
        request=SegmentWriteSerializer,
        responses={201: SegmentSerializer, 400: VALIDATION_ERROR},
    )
    def create(self, request):
        writer = SegmentWriteSerializer(data=request.data)
        writer.is_valid(raise_exception=True)
        with service_errors():
            segment = segment_create(owner=actor_user(request), **writer.validated_data)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a segment",
        request=SegmentWriteSerializer(partial=True),
        responses={200: SegmentSerializer, 400: VALIDATION_ERROR},
    )
    def partial_update(self, request, pk=None):
        segment = self.get_object()
        writer = SegmentWriteSerializer(data=request.data, partial=True)
        writer.is_valid(raise_exception=True)
        with service_errors():
            segment = segment_update(segment=segment, **writer.validated_data)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(summary="Count a segment's members now", request=None)
    @action(detail=True, methods=["post"])
    def count(self, request, pk=None):
        segment = segment_count_refresh(segment=self.get_object())
        return Response(SegmentSerializer(segment).data)

    @extend_schema(
        summary="Count, explain and preview a segment",
        parameters=[
            LANGUAGE,
            OpenApiParameter("sample", OpenApiTypes.INT, description="0 to 50 members."),
        ],
        responses={200: EvaluationSerializer},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        segment = self.get_object()
        try:
            sample = int(request.query_params.get("sample", 10))
        except ValueError:
            sample = -1
        if not 0 <= sample <= 50:
            raise exceptions.ValidationError({"sample": ["0 to 50."]})
        return Response(_evaluate(segment.tree, sample=sample, language=_language(request)))

    @extend_schema(
        summary="Evaluate a rule tree without saving it",
        description="What the rule builder shows as operators edit: the live count, the tree "
        "read aloud and a few matching members. A bad tree is a 400 naming each faulty node.",
        parameters=[LANGUAGE],
        request=TreeSerializer,
        responses={200: EvaluationSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=False, methods=["post"], url_path="evaluate")
    def evaluate(self, request):
        reader = TreeSerializer(data=request.data)
        reader.is_valid(raise_exception=True)
        data = reader.validated_data
        return Response(_evaluate(data["tree"], sample=data["sample"], language=_language(request)))

    @extend_schema(
        summary="Fields a rule tree can test",
        parameters=[LANGUAGE],
        responses={200: SegmentFieldSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="fields")
    def fields(self, request):
        with translation.override(_language(request)):
            return Response(segment_field_catalogue())

    def get_object(self):
        try:
            return super().get_object()
        except (Segment.DoesNotExist, ValueError) as exc:
            raise Http404 from exc
