"""SMS through Aliyun's SendSms (dysmsapi, API version 2017-05-25, RPC signature v1).

Chinese carriers only deliver SMS from approved templates: the operator gives the approved
template's code (options["template_code"]) and its variables (options["fields"], rendered per
member, sent as TemplateParam). The body is the template's text as approved, kept for the
record and the preview; it must carry the opt-out instruction for marketing (checked at save),
and the brand signature (SignName, SCRM_SMS_SIGN_NAME) goes with every message.

Signing (Aliyun "signature method" for RPC APIs): sort all parameters but Signature, percent-
encode names and values per RFC 3986 (space as %20, "*" as %2A, "~" kept), join as k=v with
"&"; StringToSign = METHOD + "&" + enc("/") + "&" + enc(that); Signature =
base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)). Requests are POSTed as a form, so
phone numbers and keys stay out of URLs and access logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.channels.base import Channel, Message, Outcome, Result
from campaigns.channels.http import TransientError, http_call, parallel

# Codes worth retrying later: Aliyun's own failures, throttling, an account out of service or
# balance (which the brand can fix within the retry window). Every other code is permanent.
TRANSIENT_CODES = {
    "isp.SYSTEM_ERROR",
    "isp.GATEWAY_ERROR",
    "isv.OUT_OF_SERVICE",
    "isv.AMOUNT_NOT_ENOUGH",
    "ServiceUnavailable",
    "InternalError",
    "SignatureNonceUsed",
}


def aliyun_encode(value: str) -> str:
    """Percent-encoding as Aliyun signs it (RFC 3986 unreserved characters kept)."""
    return urllib.parse.quote(str(value), safe="~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "POST") -> str:
    """The Signature of ``params`` (any Signature among them is left out)."""
    canonical = "&".join(
        f"{aliyun_encode(k)}={aliyun_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    to_sign = f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sms_number(e164: str) -> str:
    """The number as Aliyun takes it: mainland numbers without +86, others as country code and
    number without the plus."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


class SmsChannel(Channel):
    code = "sms"
    label = gettext_lazy("SMS (Aliyun)")
    address_column = "phone"
    consent = "sms"

    def is_configured(self) -> bool:
        return bool(
            settings.SCRM_SMS_ACCESS_KEY_ID
            and settings.SCRM_SMS_ACCESS_KEY_SECRET
            and settings.SCRM_SMS_SIGN_NAME
        )

    def check_content(self, *, subject, body, options, transactional):
        problems: dict[str, list[str]] = {}
        code = options.get("template_code")
        if not isinstance(code, str) or not code.strip():
            problems["options"] = [_("Give the approved SMS template's code (“template_code”).")]
        opt_out = settings.SCRM_SMS_OPT_OUT_TEXT
        if not transactional and opt_out not in body:
            problems["body"] = [
                _(
                    "A marketing SMS must tell how to refuse further messages: its approved "
                    "template ends with “%(text)s”."
                )
                % {"text": opt_out}
            ]
        return problems

    def send_batch(self, messages: list[Message]) -> list[Result]:
        return parallel(self._send_one, messages)

    def _params(self, message: Message) -> dict[str, str]:
        params = {
            "AccessKeyId": settings.SCRM_SMS_ACCESS_KEY_ID,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": settings.SCRM_SMS_REGION,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": sms_number(message.address),
            "SignName": settings.SCRM_SMS_SIGN_NAME,
            "TemplateCode": message.options["template_code"],
            # The touchpoint key comes back in delivery reports; Aliyun does not deduplicate
            # on it, so the outbox's claims are what keep a message from going twice.
            "OutId": message.key,
        }
        if message.fields:
            params["TemplateParam"] = json.dumps(message.fields, ensure_ascii=False)
        return params

    def _send_one(self, message: Message) -> Result:
        """Runs in a thread: HTTP only."""
        params = self._params(message)
        signature = aliyun_signature(params, settings.SCRM_SMS_ACCESS_KEY_SECRET)
        form = "&".join(
            f"{aliyun_encode(k)}={aliyun_encode(v)}"
            for k, v in [("Signature", signature), *sorted(params.items())]
        )
        try:
            reply = http_call(settings.SCRM_SMS_ENDPOINT, method="POST", form=form)
            payload = reply.json()
        except TransientError as exc:
            return Result(Outcome.RETRY, reason=str(exc))
        code = str(payload.get("Code", ""))
        if code == "OK":
            return Result(Outcome.SENT, provider_id=str(payload.get("BizId", "")))
        reason = f"Aliyun {code or reply.status}: {payload.get('Message', '')}"
        if code in TRANSIENT_CODES or code.startswith("Throttling"):
            return Result(Outcome.RETRY, reason=reason)
        return Result(Outcome.FAILED, reason=reason)
