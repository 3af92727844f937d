"""The mini-program reports the subscription messages a member accepted in the prompt
(wx.requestSubscribeMessage), so the server knows how many it may send per template: WeChat
has no API that says."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from campaigns.services.subscriptions import subscriptions_accept, subscriptions_left
from members.api.schema import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, VALIDATION_ERROR
from members.api.serializers.common import StrictSerializer
from members.api.views.me import MeMixin
from scrm.api.idempotency import idempotent


def _template_ids(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=False), max_length=3, **kwargs
    )


class SubscriptionReportSerializer(StrictSerializer):
    # wx.requestSubscribeMessage asks for at most 3 templates at a time.
    template_ids = _template_ids(min_length=1)
    accepted = _template_ids()

    def validate(self, attrs):
        stray = sorted(set(attrs["accepted"]) - set(attrs["template_ids"]))
        if stray:
            raise serializers.ValidationError(
                {
                    "accepted": [
                        _("Not among the templates asked for: %(ids)s.") % {"ids": ", ".join(stray)}
                    ]
                }
            )
        return attrs


class SubscriptionsLeftSerializer(serializers.Serializer):
    subscriptions = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Messages the server may still send, per template id.",
    )


class MeSubscriptionsView(MeMixin, generics.GenericAPIView):
    serializer_class = SubscriptionReportSerializer

    @extend_schema(
        summary="My subscription messages left", responses={200: SubscriptionsLeftSerializer}
    )
    def get(self, request):
        member = self.get_me()
        return Response({"subscriptions": subscriptions_left(member=member)})

    @extend_schema(
        summary="Report what I accepted in the subscription prompt",
        description=(
            "Send the templates the prompt asked for and those accepted ('accept' in "
            "wx.requestSubscribeMessage's answer); each accepted one allows one more message. "
            "Send an Idempotency-Key: a retried report must not count twice."
        ),
        parameters=[IDEMPOTENCY_KEY],
        responses={
            200: SubscriptionsLeftSerializer,
            400: VALIDATION_ERROR,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def post(self, request):
        return idempotent(request, lambda: self._report(request))

    def _report(self, request) -> Response:
        report = self.get_serializer(data=request.data)
        report.is_valid(raise_exception=True)
        member = self.get_me()
        accepted = report.validated_data["accepted"]
        if accepted:
            subscriptions_accept(member=member, template_ids=accepted)
        left = subscriptions_left(member=member, template_ids=report.validated_data["template_ids"])
        return Response({"subscriptions": left})
