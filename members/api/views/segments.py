"""Segments: saved rule trees (operators and segments:* keys), ad-hoc evaluation for rule
builders, and the field catalogue builders are drawn from."""

from __future__ import annotations

from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from members.api.base import READ, ScopedView, actor_user
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
from members.selectors import member_should_mask
from members.services.segments import (
    SegmentInUse,
    segment_count_refresh,
    segment_create,
    segment_delete,
    segment_update,
)
from scrm.api.permissions import StaffOrScopedKey, is_guide
from scrm.api.principals import ApiKeyPrincipal

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
        raise exceptions.ValidationError({"lang": [_("Use zh-hans or en.")]})
    return lang


def _tree_error(exc: TreeError) -> exceptions.ValidationError:
    """A bad tree as a 400: one "path: message" per faulty node."""
    return exceptions.ValidationError(
        {"tree": [f"{e['path']}: {e['message']}" for e in exc.errors]}
    )


def _should_mask(user) -> bool:
    """Whether the preview hides phones and WeChat ids: for callers who may not read members
    unmasked elsewhere. A key holding only segments scopes sees masked samples (members:read
    gives it the full rows on /members/ anyway); staff as the members API decides."""
    if isinstance(user, ApiKeyPrincipal):
        return READ not in user.scopes
    return member_should_mask(user)


def _evaluate(tree, *, sample: int, language: str, mask: bool) -> dict:
    try:
        node = tree_parse(tree)
        members = segment_members(node)
    except TreeError as exc:
        raise _tree_error(exc) from exc
    ids = list(members.order_by("-pk").values_list("pk", flat=True)[:sample]) if sample else []
    return {
        "count": members.count(),
        "explanation": tree_explain(node, language=language),
        "sample": render_members(Member.objects.filter(pk__in=ids), mask=mask) if ids else [],
    }


@extend_schema_view(
    list=extend_schema(summary="List segments"),
    retrieve=extend_schema(summary="Get a segment"),
)
class SegmentViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
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
        summary="Replace a segment",
        description="Name and tree are required; a description left out is cleared.",
        request=SegmentWriteSerializer,
        responses={200: SegmentSerializer, 400: VALIDATION_ERROR},
    )
    def update(self, request, pk=None):
        return self._change(request, partial=False)

    @extend_schema(
        summary="Change a segment",
        request=SegmentWriteSerializer(partial=True),
        responses={200: SegmentSerializer, 400: VALIDATION_ERROR},
    )
    def partial_update(self, request, pk=None):
        return self._change(request, partial=True)

    def _change(self, request, *, partial: bool) -> Response:
        segment = self.get_object()
        writer = SegmentWriteSerializer(data=request.data, partial=partial)
        writer.is_valid(raise_exception=True)
        values = dict(writer.validated_data)
        if not partial:
            values.setdefault("description", "")
        with service_errors():
            segment = segment_update(segment=segment, **values)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(
        summary="Delete a segment",
        description="A segment that campaigns or group rules use is not deleted: 409 naming "
        "them in ``used_by``.",
        responses={
            204: None,
            409: inline_serializer(
                "SegmentInUse",
                {
                    "detail": serializers.CharField(),
                    "used_by": serializers.ListField(child=serializers.DictField()),
                },
            ),
        },
    )
    def destroy(self, request, pk=None):
        try:
            segment_delete(segment=self.get_object())
        except SegmentInUse as exc:
            return Response(
                {"detail": str(exc), "used_by": exc.users}, status=status.HTTP_409_CONFLICT
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Count a segment's members now",
        description="A saved tree that no longer holds (a tag it names was deleted since) "
        "is a 400 naming the node.",
        request=None,
        responses={200: SegmentSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    def count(self, request, pk=None):
        try:
            segment = segment_count_refresh(segment=self.get_object())
        except TreeError as exc:
            raise _tree_error(exc) from exc
        return Response(SegmentSerializer(segment).data)

    @extend_schema(
        summary="Count, explain and preview a segment",
        parameters=[
            LANGUAGE,
            OpenApiParameter("sample", OpenApiTypes.INT, description="0 to 50 members."),
        ],
        responses={200: EvaluationSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        segment = self.get_object()
        try:
            sample = int(request.query_params.get("sample", 10))
        except ValueError:
            sample = -1
        if not 0 <= sample <= 50:
            raise exceptions.ValidationError({"sample": [_("A whole number from 0 to 50.")]})
        result = _evaluate(
            segment.tree,
            sample=sample,
            language=_language(request),
            mask=_should_mask(request.user),
        )
        return Response(result)

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
        result = _evaluate(
            data["tree"],
            sample=data["sample"],
            language=_language(request),
            mask=_should_mask(request.user),
        )
        return Response(result)

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
