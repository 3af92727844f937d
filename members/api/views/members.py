"""Members: list (filters, cursor pages), retrieve, upsert with identity resolution, PATCH."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from members.api.base import NewestFirstPagination, ScopedView, actor_user
from members.api.errors import service_errors
from members.api.filters import MemberFilter, member_fast_filters, member_filter_conditions
from members.api.member_page import Equals, render_member_page
from members.api.member_rows import MemberJSON, render_members, render_queryset_page
from members.api.renderers import RawJSON, RawJSONRenderer
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.api.serializers.members import MemberSerializer, MemberWriteSerializer
from members.identity import phone_normalise
from members.models import Member
from members.selectors import (
    member_should_mask,
    member_unmasked_by_permission,
    member_visibility,
    members_visible_to,
)
from members.services.audit import unmasked_view_record
from members.services.members import member_update, member_upsert
from scrm.api.idempotency import idempotent
from scrm.api.permissions import OperatorOrScopedKey, StaffOrScopedKey, is_guide

# A guide works the customers of their store; moving a member to another store or guide, or
# changing their tier, is an operator's decision.
GUIDE_LOCKED_FIELDS = ("home_store", "guide", "tier")
IDENTITY_LOOKUPS = ("phone", "unionid", "openid")


def _equals(fields: dict[str, object]) -> list[Equals]:
    """``{field: value}`` exact conditions on Member (member_visibility's, an identity) as
    render_member_page's conditions, with the values as the database stores them."""
    conditions = []
    for name, value in fields.items():
        field = Member._meta.get_field(name)
        conditions.append(
            Equals(field.column, field.get_db_prep_value(value, connection, prepared=False))
        )
    return conditions


def _results(rows: list) -> list | RawJSON:
    """A page's results for the response: members PostgreSQL rendered pass through as bytes."""
    if rows and all(isinstance(row, MemberJSON) for row in rows):
        return RawJSON(b"[" + b",".join(row.json for row in rows) + b"]")
    return rows


@extend_schema_view(
    list=extend_schema(summary="List members", description="Newest first, cursor pages."),
    retrieve=extend_schema(summary="Get a member"),
)
class MemberViewSet(
    ScopedView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Members visible to the caller: operators and API keys (members:read) see all, a guide
    their store's, with identities masked. Anyone else gets 404 for a member they cannot see."""

    queryset = Member.objects.none()  # for schema introspection; get_queryset is what runs
    serializer_class = MemberSerializer
    permission_classes = [StaffOrScopedKey]
    filterset_class = MemberFilter
    pagination_class = NewestFirstPagination
    renderer_classes = [
        RawJSONRenderer,
        *(r for r in api_settings.DEFAULT_RENDERER_CLASSES if not issubclass(r, JSONRenderer)),
    ]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return members_visible_to(self.request.user)

    def _rows(self, queryset, *, where: str) -> list[dict]:
        """The members of ``queryset`` as the caller may see them, audited (_audited)."""
        rows = render_members(queryset, mask=member_should_mask(self.request.user))
        return self._audited(rows, where=where)

    def _audited(self, rows: list, *, where: str) -> list:
        """A guide who sees members unmasked thanks to the unmask permission leaves an audit
        row per response."""
        user = self.request.user
        if member_unmasked_by_permission(user):
            ids = [row.id if isinstance(row, MemberJSON) else row["id"] for row in rows]
            unmasked_view_record(actor=user, member_ids=ids, where=where)
        return rows

    def list(self, request):
        """One statement finds and renders the page (members.api.member_page), after the
        caller's authentication: the common exact filters skip the FilterSet's form, shop
        systems' lookups by phone or WeChat id skip the cursor too (a unique row, same
        response shape), and any other query goes through MemberFilter into the same
        statement. Pages PostgreSQL rendered are sent as it wrote them (RawJSONRenderer)."""
        user = request.user
        render = {
            "mask": member_should_mask(user),
            "raw": isinstance(getattr(request, "accepted_renderer", None), RawJSONRenderer),
        }
        visible = member_visibility(user)
        identity = self._identity_lookup(request)
        if identity is not None:
            rows = []
            if visible is not None:
                rows = render_member_page(
                    where=_equals({**visible, **identity}),
                    after=None,
                    descending=True,
                    offset=0,
                    limit=None,
                    **render,
                )
            rows = self._audited(rows, where="api.lookup")
            return Response({"next": None, "previous": None, "results": _results(rows)})
        paginator = self.paginator
        fast = member_fast_filters(request.query_params) if visible is not None else None
        if fast is not None:
            where = _equals(visible) + member_filter_conditions(fast)
            try:
                rows = paginator.paginate_rows(
                    request, lambda **page: render_member_page(where=where, **page, **render)
                )
            except NotFound:
                if fast:  # an unknown code is a 400 before a bad cursor is a 404, as it was
                    self.filter_queryset(self.get_queryset())
                raise
            if not rows and fast:
                # Nothing found: MemberFilter's form tells an unknown store, tier or guide
                # (its 400, its messages) from filters that match nobody.
                self.filter_queryset(self.get_queryset())
        else:
            queryset = self.filter_queryset(self.get_queryset())
            rows = paginator.paginate_rows(
                request, lambda **page: render_queryset_page(queryset, **page, **render)
            )
        rows = self._audited(rows, where="api.list")
        return paginator.get_paginated_response(_results(rows))

    @staticmethod
    def _identity_lookup(request) -> dict | None:
        """{field: value} when the query is exactly one identity, else None."""
        params = request.query_params
        if len(params) != 1:
            return None
        field = next(iter(params))
        if field not in IDENTITY_LOOKUPS or len(params.getlist(field)) != 1:
            return None
        value = params[field].strip()
        if not value:
            return None
        if field == "phone":
            try:
                value = phone_normalise(value)
            except DjangoValidationError as exc:
                raise exceptions.ValidationError({"phone": exc.messages}) from exc
        return {field: value}

    def retrieve(self, request, pk=None):
        rows = self._rows(self.get_queryset().filter(pk=pk), where="api.retrieve")
        if not rows:
            raise Http404
        return Response(rows[0])

    def _render(self, member: Member, *, status_code=status.HTTP_200_OK) -> Response:
        rows = self._rows(Member.objects.filter(pk=member.pk), where="api.update")
        return Response(rows[0], status=status_code)

    @extend_schema(
        summary="Update a member",
        request=MemberWriteSerializer,
        responses={200: MemberSerializer, 400: VALIDATION_ERROR},
    )
    def partial_update(self, request, pk=None):
        """Change profile fields and identities. Guides may not move a member to another store
        or guide, nor change the tier (403)."""
        member = self.get_object()
        if is_guide(request.user) and isinstance(request.data, Mapping):
            locked = sorted(set(request.data) & set(GUIDE_LOCKED_FIELDS))
            if locked:
                raise exceptions.PermissionDenied(
                    _("Shop guides cannot change: %(fields)s.") % {"fields": ", ".join(locked)}
                )
        writer = MemberWriteSerializer(data=request.data, context=self.get_serializer_context())
        writer.is_valid(raise_exception=True)
        with service_errors():
            member = member_update(
                member=member, actor=actor_user(request), **writer.validated_data
            )
        return self._render(member)

    @extend_schema(
        summary="Create or update a member by identity",
        description=(
            "A member whose phone, union id, open id or WeCom id already exists is updated "
            "(201 when created, 200 when an existing member was found). Empty values never "
            "erase what the member has. Identities owned by two different members are a 400."
        ),
        request=MemberWriteSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: OpenApiResponse(MemberSerializer, description="An existing member, updated."),
            201: OpenApiResponse(MemberSerializer, description="A new member."),
            400: VALIDATION_ERROR,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @action(detail=False, methods=["post"], permission_classes=[OperatorOrScopedKey])
    def upsert(self, request):
        return idempotent(request, lambda: self._upsert(request))

    def _upsert(self, request) -> Response:
        writer = MemberWriteSerializer(data=request.data, context=self.get_serializer_context())
        writer.is_valid(raise_exception=True)
        with service_errors():
            member, created = member_upsert(actor=actor_user(request), **writer.validated_data)
        return self._render(member, status_code=201 if created else 200)
