"""The SMS provider's reply callback (Aliyun SmsUp, HTTP batch push).

Aliyun POSTs a JSON array of replies, [{"phone_number", "content", "send_time", "dest_code",
"sequence_id"}, ...], and wants {"code": 0, "msg": ...} with HTTP 200; anything else makes it
push again (after 1, 5 and 10 minutes), so a reply may arrive more than once. The callback URL
carries a secret path segment (Aliyun's push has no signature): a wrong one is a 404.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.services.sms_replies import InboundSms, sms_replies_receive, sms_reply_id


class SmsUpSerializer(serializers.Serializer):
    phone_number = serializers.CharField(max_length=32)
    content = serializers.CharField(allow_blank=True, max_length=2000)
    send_time = serializers.CharField(required=False, allow_blank=True, max_length=40)
    dest_code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    # A number in some of Aliyun's examples and a string in others.
    sequence_id = serializers.CharField(required=False, allow_blank=True, max_length=64)


ACK = inline_serializer(
    "SmsCallbackAck", {"code": serializers.IntegerField(), "msg": serializers.CharField()}
)


class SmsReplyCallbackView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="SMS replies from the provider (Aliyun SmsUp push)",
        request=SmsUpSerializer(many=True),
        responses={200: ACK, 400: ACK},
    )
    def post(self, request, token: str):
        expected = settings.SCRM_SMS_INBOUND_TOKEN
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Http404
        replies = SmsUpSerializer(data=request.data, many=True)
        if not isinstance(request.data, list) or not replies.is_valid():
            return Response({"code": 1, "msg": "invalid body"}, status=400)
        sms_replies_receive(
            replies=[
                InboundSms(
                    reply_id=sms_reply_id(
                        provider_id=r.get("sequence_id", ""),
                        phone=r["phone_number"],
                        content=r["content"],
                        sent_at=r.get("send_time", ""),
                    ),
                    phone=r["phone_number"],
                    content=r["content"],
                )
                for r in replies.validated_data
            ]
        )
        return Response({"code": 0, "msg": "接收成功"})
