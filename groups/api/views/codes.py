"""Join codes (群活码) for staff: list with join counts, create, change, and the QR image of
the code's link as PNG or SVG. A guide sees and makes only their store's codes."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.response import Response

from groups import selectors
from groups.api.serializers import JoinCodeSerializer, JoinCodeWriteSerializer
from groups.api.views.staff import check_guide_writes, guide_of
from groups.models import JoinCode
from groups.qr import qr_png, qr_svg
from groups.services.codes import join_code_create, join_code_update, join_link
from members.api.base import ScopedView
from members.api.errors import service_errors
from members.api.schema import VALIDATION_ERROR
from scrm.api.permissions import StaffOrScopedKey

PNG = {(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG image")}
SVG = {(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="SVG image")}


def code_row(code: JoinCode) -> dict:
    return {
        "id": code.pk,
        "code": code.code,
        "name": code.name,
        "store": code.store,
        "is_active": code.is_active,
        "link": join_link(code),
        "qr_png": reverse("group-code-qr-png", args=[code.pk]),
        "qr_svg": reverse("group-code-qr-svg", args=[code.pk]),
        "joins": getattr(code, "joins", 0),
        "live_groups": getattr(code, "live_groups", 0),
        "auto_open": code.auto_open,
        "max_groups": code.max_groups,
        "group_name": code.group_name,
        "group_purpose": code.group_purpose,
        "group_owner_id": code.group_owner_id,
        "group_capacity": code.group_capacity,
        "group_expires_at": code.group_expires_at,
        "created_at": code.created_at,
    }


def _image(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


@extend_schema_view(
    list=extend_schema(summary="List join codes", description="Newest first, with join counts."),
    retrieve=extend_schema(summary="Get a join code"),
)
class JoinCodeViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = JoinCode.objects.none()
    serializer_class = JoinCodeSerializer
    permission_classes = [StaffOrScopedKey]
    filter_backends: list = []
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        visible = selectors.join_codes_visible_to(self.request.user).select_related("store")
        return selectors.join_codes_with_counts(visible)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            JoinCodeSerializer([code_row(c) for c in page], many=True).data
        )

    def retrieve(self, request, pk=None):
        return Response(JoinCodeSerializer(code_row(self.get_object())).data)

    def _reread(self, code: JoinCode) -> dict:
        return code_row(self.get_queryset().get(pk=code.pk))

    @extend_schema(
        summary="Create a join code",
        request=JoinCodeWriteSerializer,
        responses={201: JoinCodeSerializer, 400: VALIDATION_ERROR},
    )
    def create(self, request):
        writer = JoinCodeWriteSerializer(data=request.data)
        writer.is_valid(raise_exception=True)
        values = dict(writer.validated_data)
        guide = guide_of(request)
        if guide is not None:
            values.setdefault("store", guide.store)
        values = check_guide_writes(request, values)
        with service_errors():
            code = join_code_create(**values)
        return Response(JoinCodeSerializer(self._reread(code)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a join code",
        description="Name, store, active, and the template of the groups it opens next.",
        request=JoinCodeWriteSerializer(partial=True),
        responses={200: JoinCodeSerializer, 400: VALIDATION_ERROR},
    )
    def partial_update(self, request, pk=None):
        code = self.get_object()
        writer = JoinCodeWriteSerializer(data=request.data, partial=True)
        writer.is_valid(raise_exception=True)
        values = check_guide_writes(request, dict(writer.validated_data))
        with service_errors():
            code = join_code_update(code=code, **values)
        return Response(JoinCodeSerializer(self._reread(code)).data)


class JoinCodeQrView(ScopedView, generics.GenericAPIView):
    """The QR image of a code's link: ``.png`` for chat and print, ``.svg`` for designers."""

    permission_classes = [StaffOrScopedKey]
    filter_backends: list = []
    kind = "png"

    def get_queryset(self):
        return selectors.join_codes_visible_to(self.request.user)

    def get(self, request, pk: int):
        code = get_object_or_404(self.get_queryset(), pk=pk)
        link = join_link(code)
        if self.kind == "svg":
            return _image(
                qr_svg(link), content_type="image/svg+xml", filename=f"group-{code.code}.svg"
            )
        return _image(qr_png(link), content_type="image/png", filename=f"group-{code.code}.png")


class JoinCodePngView(JoinCodeQrView):
    kind = "png"

    @extend_schema(summary="The code's QR image (PNG)", responses=PNG)
    def get(self, request, pk: int):
        return super().get(request, pk)


class JoinCodeSvgView(JoinCodeQrView):
    kind = "svg"

    @extend_schema(summary="The code's QR image (SVG)", responses=SVG)
    def get(self, request, pk: int):
        return super().get(request, pk)
