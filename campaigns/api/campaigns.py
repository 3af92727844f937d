"""Campaigns for operators: create and change them, launch, pause and cancel, read their
results, preview their messages for a member, and list their touchpoints.

Operators only (shop guides get 403: they work their store's customers, not the brand's
campaigns); server keys need campaigns:read / campaigns:write. Every write goes through the
campaign services, which check a campaign as a whole: a bad schedule, an unknown template
variable or shares not adding up to 100 are a 400 naming the field, and nothing is written.
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.api.serializers import (
    CampaignPreviewSerializer,
    CampaignResultsSerializer,
    CampaignSerializer,
    CampaignTouchpointSerializer,
    PreviewQuerySerializer,
)
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Content,
    SkipReason,
    Step,
    Touchpoint,
    TouchpointState,
)
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
)
from campaigns.services.editing import CampaignNotEditable, campaign_update
from campaigns.services.preview import campaign_preview
from campaigns.services.results import campaign_results
from members.api.base import actor_user
from members.api.errors import service_errors
from members.api.schema import ERROR, VALIDATION_ERROR
from members.selectors import members_visible_to
from scrm.api.pagination import DefaultCursorPagination
from scrm.api.permissions import StaffOrScopedKey, is_guide

READ = "campaigns:read"
WRITE = "campaigns:write"


class OperatorsOnly(StaffOrScopedKey):
    """Operators and keys with the campaigns scopes; never shop guides."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not is_guide(request.user)


class StateConflict(exceptions.APIException):
    status_code = 409
    default_detail = _("The campaign's status does not allow this.")
    default_code = "status_conflict"


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)
    kind = django_filters.ChoiceFilter(choices=CampaignKind.choices)
    channel = django_filters.CharFilter(help_text=_("Channel code, exact."))

    class Meta:
        model = Campaign
        fields: list[str] = []


class TouchpointFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=TouchpointState.choices)
    skip_reason = django_filters.ChoiceFilter(choices=SkipReason.choices)
    variant = django_filters.CharFilter(
        field_name="variant__code", help_text=_("Variant code, e.g. A.")
    )

    class Meta:
        model = Touchpoint
        fields: list[str] = []


CONFLICT = OpenApiResponse(ERROR, description="The campaign's status does not allow it.")


def campaigns_with_content():
    """Campaigns with what their representation needs, in a fixed number of queries."""
    return Campaign.objects.select_related("created_by").prefetch_related(
        "variants",
        Prefetch(
            "steps",
            queryset=Step.objects.order_by("position").prefetch_related(
                Prefetch("contents", queryset=Content.objects.select_related("variant"))
            ),
        ),
    )


@extend_schema_view(
    list=extend_schema(summary="List campaigns", description="Newest first, cursor pages."),
    retrieve=extend_schema(summary="Get a campaign"),
)
class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Campaigns with their variants and messages (the shape campaign_create takes)."""

    queryset = Campaign.objects.none()  # for schema introspection; get_queryset is what runs
    serializer_class = CampaignSerializer
    permission_classes = [OperatorsOnly]
    read_scope = READ
    write_scope = WRITE
    filterset_class = CampaignFilter
    pagination_class = DefaultCursorPagination
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return campaigns_with_content()

    def _campaign(self) -> Campaign:
        """The campaign of the URL, without the prefetching its representation needs."""
        return get_object_or_404(Campaign, pk=self.kwargs["pk"])

    def _render(self, campaign: Campaign, *, status_code=status.HTTP_200_OK) -> Response:
        campaign = campaigns_with_content().get(pk=campaign.pk)
        return Response(CampaignSerializer(campaign).data, status=status_code)

    @extend_schema(
        summary="Create a draft campaign",
        description="Checked as a whole; a 400 names each problem (e.g. `steps[0].A.body`) "
        "and nothing is saved.",
        responses={201: CampaignSerializer, 400: VALIDATION_ERROR},
    )
    def create(self, request):
        writer = CampaignSerializer(data=request.data)
        writer.is_valid(raise_exception=True)
        with service_errors():
            campaign = campaign_create(created_by=actor_user(request), **writer.validated_data)
        return self._render(campaign, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a draft or paused campaign",
        description="Fields given replace the saved ones; `steps` and `variants`, when given, "
        "replace the whole list. Steps and variants that already have touchpoints cannot be "
        "removed; kind and channel stay once launched. Scheduled, running or finished "
        "campaigns: 409 (pause first).",
        responses={200: CampaignSerializer, 400: VALIDATION_ERROR, 409: CONFLICT},
    )
    def partial_update(self, request, pk=None):
        campaign = self._campaign()
        writer = CampaignSerializer(data=request.data, partial=True)
        writer.is_valid(raise_exception=True)
        with service_errors():
            try:
                campaign = campaign_update(campaign=campaign, **writer.validated_data)
            except CampaignNotEditable as exc:
                raise StateConflict(exc.messages[0]) from exc
        return self._render(campaign)

    @extend_schema(
        summary="Launch (or resume) a campaign",
        description="Schedules a draft or resumes a paused campaign. Launching a scheduled or "
        "running campaign again changes nothing and answers the same.",
        request=None,
        responses={200: CampaignSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    def launch(self, request, pk=None):
        with service_errors():
            campaign = campaign_launch(campaign=self._campaign())
        return self._render(campaign)

    @extend_schema(
        summary="Pause a campaign",
        description="Due messages wait (they are not dropped) until it is launched again.",
        request=None,
        responses={200: CampaignSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        campaign = campaign_pause(campaign=self._campaign())
        if campaign.status != CampaignStatus.PAUSED:
            raise StateConflict(_("Only a scheduled or running campaign can be paused."))
        return self._render(campaign)

    @extend_schema(
        summary="Cancel a campaign",
        description="For good: messages not yet sent are skipped. Cancelling again answers "
        "the same; a completed campaign cannot be cancelled (409).",
        request=None,
        responses={200: CampaignSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        campaign = campaign_cancel(campaign=self._campaign())
        if campaign.status != CampaignStatus.CANCELLED:
            raise StateConflict(_("A completed campaign cannot be cancelled."))
        return self._render(campaign)

    @extend_schema(
        summary="Results of a campaign",
        description="Audience, sent, failed, skipped by reason, conversions, revenue and margin "
        "credited to sent messages, in total and per variant, and the uplift against the "
        "holdout with its 95% confidence interval (null with a note when there is not "
        "enough data).",
        responses={200: CampaignResultsSerializer},
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        campaign = self._campaign()
        return Response(CampaignResultsSerializer(campaign_results(campaign=campaign)).data)

    @extend_schema(
        summary="Preview a campaign's messages for a member",
        description="Rendered with the values a real send uses; a sample coupon code when the "
        "campaign offers a coupon. Without `member`, each variable shows a sample value.",
        parameters=[
            OpenApiParameter("member", OpenApiTypes.INT, description="Member id."),
            OpenApiParameter("step", OpenApiTypes.INT, description="Step position, from 0."),
            OpenApiParameter("variant", OpenApiTypes.STR, description="Variant code."),
        ],
        responses={200: CampaignPreviewSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        campaign = self._campaign()
        query = PreviewQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        member_id = query.validated_data.get("member")
        member = None
        if member_id is not None:
            member = members_visible_to(request.user).filter(pk=member_id).first()
            if member is None:
                raise exceptions.ValidationError({"member": [_("No such member.")]})
        messages = campaign_preview(
            campaign=campaign,
            member=member,
            step=query.validated_data.get("step"),
            variant=query.validated_data.get("variant"),
        )
        return Response(CampaignPreviewSerializer({"member": member_id, "messages": messages}).data)


class CampaignTouchpointListView(generics.ListAPIView):
    """The campaign's touchpoints, newest first: who was (or will be) contacted, in which
    arm, and what came of it."""

    permission_classes = [OperatorsOnly]
    read_scope = READ
    write_scope = WRITE
    serializer_class = CampaignTouchpointSerializer
    filterset_class = TouchpointFilter
    pagination_class = DefaultCursorPagination
    queryset = Touchpoint.objects.none()

    def get_queryset(self):
        campaign = get_object_or_404(Campaign.objects.only("pk"), pk=self.kwargs["campaign_id"])
        return Touchpoint.objects.filter(campaign=campaign).select_related(
            "member", "step", "variant", "coupon"
        )

    @extend_schema(summary="A campaign's touchpoints")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
