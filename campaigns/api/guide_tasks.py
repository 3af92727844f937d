"""The guide workspace's WeCom tasks: the messages a guide has to send, and confirming them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import GuideTask
from campaigns.services.guide_tasks import guide_task_confirm, guide_tasks_open
from members.api.schema import ERROR
from scrm.api.pagination import DefaultCursorPagination
from scrm.api.permissions import is_guide


class IsActiveGuide(BasePermission):
    """Shop guides only: the tasks are theirs; operators and keys have no workspace."""

    def has_permission(self, request, view):
        return is_guide(request.user) and request.user.guide.is_active


class NotOpen(exceptions.APIException):
    status_code = 409
    default_detail = _("This task can no longer be confirmed.")
    default_code = "not_open"


class GuideTaskSerializer(serializers.ModelSerializer):
    member_name = serializers.CharField(source="member.name", read_only=True)
    campaign = serializers.CharField(source="touchpoint.campaign.name", read_only=True)
    in_wecom = serializers.SerializerMethodField(
        help_text="Also created in WeCom: confirm the task there to send it."
    )

    class Meta:
        model = GuideTask
        fields = [
            "id",
            "status",
            "text",
            "member",
            "member_name",
            "campaign",
            "in_wecom",
            "created_at",
            "expires_at",
            "confirmed_at",
        ]
        read_only_fields = fields

    def get_in_wecom(self, task: GuideTask) -> bool:
        return bool(task.wecom_msgid)


class OldestFirstPagination(DefaultCursorPagination):
    ordering = "id"


class GuideTaskListView(generics.ListAPIView):
    """My open tasks, oldest first: send each message to the customer in WeCom (or confirm the
    task WeCom shows), then confirm it here."""

    permission_classes = [IsActiveGuide]
    serializer_class = GuideTaskSerializer
    pagination_class = OldestFirstPagination
    filter_backends: list = []
    queryset = GuideTask.objects.none()

    def get_queryset(self):
        return guide_tasks_open(guide=self.request.user.guide).select_related(
            "member", "touchpoint__campaign"
        )

    @extend_schema(summary="My WeCom tasks to send")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class GuideTaskConfirmView(APIView):
    permission_classes = [IsActiveGuide]

    @extend_schema(
        summary="Confirm I sent a task's message",
        description="Idempotent: confirming a confirmed task answers the same. Another guide's "
        "task is a 404; an expired or refused one a 409.",
        request=None,
        responses={
            200: GuideTaskSerializer,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(ERROR, description="Expired, or refused by WeCom."),
        },
    )
    def post(self, request, task_id: int):
        task = get_object_or_404(GuideTask, pk=task_id, guide=request.user.guide)
        try:
            task = guide_task_confirm(task=task)
        except ValidationError as exc:
            raise NotOpen(exc.messages[0]) from exc
        task = GuideTask.objects.select_related("member", "touchpoint__campaign").get(pk=task.pk)
        return Response(GuideTaskSerializer(task).data)
