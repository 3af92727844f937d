"""Tag groups and tags (operators and members:write keys create, guides read), bulk tagging."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from members.api.base import ScopedView, SortedPagination, actor_user, write_source
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from members.api.serializers.tags import (
    BulkTagResultSerializer,
    MemberTargetSerializer,
    TagCreateSerializer,
    TagGroupCreateSerializer,
    TagGroupSerializer,
    TagSerializer,
)
from members.api.targets import target_members
from members.models import Tag, TagGroup
from members.services.tags import members_tag, members_untag, tag_create, tag_group_create
from scrm.api.permissions import OperatorOrScopedKey, StaffOrScopedKey


class _CreateMixin:
    """POST on a collection: parse with ``create_serializer_class``, call the view's service,
    answer 201 with ``read_serializer_class``."""

    create_serializer_class: type
    read_serializer_class: type

    def create(self, request):
        writer = self.create_serializer_class(data=request.data)
        writer.is_valid(raise_exception=True)
        with service_errors():
            created = self.perform_service_create(**writer.validated_data)
        return Response(self.read_serializer_class(created).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List tag groups with their tags"),
    retrieve=extend_schema(summary="Get a tag group"),
    create=extend_schema(
        summary="Create a tag group",
        request=TagGroupCreateSerializer,
        responses={201: TagGroupSerializer, 400: VALIDATION_ERROR},
    ),
)
class TagGroupViewSet(
    ScopedView,
    _CreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = TagGroup.objects.prefetch_related("tags")
    serializer_class = TagGroupSerializer
    create_serializer_class = TagGroupCreateSerializer
    read_serializer_class = TagGroupSerializer
    permission_classes = [OperatorOrScopedKey]
    pagination_class = SortedPagination
    lookup_value_regex = r"[0-9]+"
    filter_backends: list = []

    def perform_service_create(self, **values):
        return tag_group_create(**values)


@extend_schema_view(
    list=extend_schema(summary="List tags"),
    retrieve=extend_schema(summary="Get a tag"),
    create=extend_schema(
        summary="Create a tag",
        request=TagCreateSerializer,
        responses={201: TagSerializer, 400: VALIDATION_ERROR},
    ),
)
class TagViewSet(
    ScopedView,
    _CreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Tag.objects.all()
    serializer_class = TagSerializer
    create_serializer_class = TagCreateSerializer
    read_serializer_class = TagSerializer
    permission_classes = [OperatorOrScopedKey]
    pagination_class = SortedPagination
    lookup_value_regex = r"[0-9]+"
    filterset_fields = ["group"]

    def perform_service_create(self, **values):
        return tag_create(**values)

    def _bulk(self, request, *, untag: bool) -> Response:
        tag = self.get_object()
        target = MemberTargetSerializer(data=request.data)
        target.is_valid(raise_exception=True)
        members = target_members(request, target.validated_data)
        matched = members.count()
        with service_errors():
            if untag:
                changed = members_untag(members=members, tags=[tag], actor=actor_user(request))
            else:
                changed = members_tag(
                    members=members,
                    tag=tag,
                    source=write_source(request),
                    actor=actor_user(request),
                )
        return Response({"matched": matched, "changed": changed})

    @extend_schema(
        summary="Tag members in bulk",
        description=(
            "Puts the tag on the given members (ids, at most 10,000) or on every member "
            "matching a filter, in one statement. Only members you can see are tagged; "
            "members who already have the tag are left as they are."
        ),
        request=MemberTargetSerializer,
        responses={200: BulkTagResultSerializer, 400: VALIDATION_ERROR},
    )
    @action(
        detail=True, methods=["post"], url_path="bulk-tag", permission_classes=[StaffOrScopedKey]
    )
    def bulk_tag(self, request, pk=None):
        return self._bulk(request, untag=False)

    @extend_schema(
        summary="Untag members in bulk",
        request=MemberTargetSerializer,
        responses={200: BulkTagResultSerializer, 400: VALIDATION_ERROR},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="bulk-untag",
        permission_classes=[StaffOrScopedKey],
    )
    def bulk_untag(self, request, pk=None):
        return self._bulk(request, untag=True)
