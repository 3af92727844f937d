"""Mini-program subscription messages (subscribeMessage.send).

POST {api}/cgi-bin/message/subscribe/send?access_token= with {"touser": openid, "template_id",
"page", "miniprogram_state", "lang", "data": {"thing1": {"value": ...}}} -> {"errcode": 0,
"msgid"}. The token comes from cgi-bin/stable_token (independent of tokens other code fetches
from cgi-bin/token, so neither invalidates the other), cached until shortly before it expires.

A one-time subscription allows one message: before any HTTP call each message takes one of
the member's counted subscriptions for its template (campaigns.services.subscriptions), and a
member with none left is skipped as unreachable.
"""

from __future__ import annotations

import re
import urllib.parse

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.channels.base import Channel, Message, Outcome, Result
from campaigns.channels.http import TransientError, http_call, parallel
from campaigns.channels.tokens import access_token_forget, access_token_get
from campaigns.models import SkipReason
from campaigns.services.subscriptions import (
    subscription_exhausted,
    subscription_refund,
    subscriptions_spend,
)

TOKEN_ERRORS = {40001, 40014, 41001, 42001}
# System busy, API quota or frequency limits, concurrent sends to one user: try again later.
TRANSIENT_ERRORS = {-1, 45009, 45011, 43108}
NO_SUBSCRIPTION = 43101
# Keyword names are a type and a number (thing1, time2, amount3 ...).
FIELD_NAME = re.compile(r"^[a-z_]+[0-9]+$")
# WeChat refuses values beyond these lengths (47003); texts are cut rather than lost.
MAX_LENGTH = {"thing": 20, "character_string": 32}


class _TokenRefused(Exception):
    pass


def _value(name: str, text: str) -> str:
    kind = name.rstrip("0123456789")
    limit = MAX_LENGTH.get(kind)
    return text[:limit] if limit else text


def _fetch_token() -> tuple[str, int]:
    reply = http_call(
        f"{settings.SCRM_WECHAT_API_BASE}/cgi-bin/stable_token",
        method="POST",
        json_body={
            "grant_type": "client_credential",
            "appid": settings.SCRM_WECHAT_APP_ID,
            "secret": settings.SCRM_WECHAT_APP_SECRET,
            "force_refresh": False,
        },
    )
    payload = reply.json()
    if "access_token" not in payload:
        raise TransientError(f"WeChat token {payload.get('errcode')}: {payload.get('errmsg')}")
    return payload["access_token"], int(payload.get("expires_in") or 7200)


def _token_name() -> str:
    return f"wechat:{settings.SCRM_WECHAT_APP_ID}"


class MiniProgramChannel(Channel):
    code = "miniprogram"
    label = gettext_lazy("mini-program subscription message")
    address_column = "openid"
    consent = "miniprogram"

    def is_configured(self) -> bool:
        return bool(settings.SCRM_WECHAT_APP_ID and settings.SCRM_WECHAT_APP_SECRET)

    def check_content(self, *, subject, body, options, transactional):
        problems = []
        template_id = options.get("template_id")
        if not isinstance(template_id, str) or not template_id.strip():
            problems.append(_("Give the subscription message template id (“template_id”)."))
        fields = options.get("fields")
        if not isinstance(fields, dict) or not fields:
            problems.append(_("Give the template's keywords (“fields”, e.g. thing1, time2)."))
        elif bad := sorted(name for name in fields if not FIELD_NAME.match(str(name))):
            problems.append(
                _("Not template keywords: %(names)s.") % {"names": ", ".join(map(str, bad))}
            )
        page = options.get("page", "")
        if not isinstance(page, str):
            problems.append(_("“page” must be a mini-program page path."))
        return {"options": problems} if problems else {}

    def send_batch(self, messages: list[Message]) -> list[Result]:
        allowed = subscriptions_spend(
            spends=[(m.key, m.member_id, m.options["template_id"]) for m in messages]
        )
        results: dict[str, Result] = {
            m.key: Result(Outcome.SKIPPED, reason=SkipReason.NO_SUBSCRIPTION)
            for m in messages
            if m.key not in allowed
        }
        to_send = [m for m in messages if m.key in allowed]
        for attempt in (1, 2):
            if not to_send:
                break
            try:
                token = access_token_get(name=_token_name(), fetch=_fetch_token)
            except TransientError as exc:
                results.update({m.key: Result(Outcome.RETRY, reason=str(exc)) for m in to_send})
                break
            answers = parallel(lambda m, token=token: self._send_one(m, token), to_send)
            refused = [m for m, answer in zip(to_send, answers, strict=True) if answer is None]
            for message, answer in zip(to_send, answers, strict=True):
                if answer is not None:
                    results[message.key] = answer
            if refused:
                access_token_forget(name=_token_name())
                if attempt == 2:
                    reason = _("WeChat refused the access token.")
                    results.update({m.key: Result(Outcome.RETRY, reason=reason) for m in refused})
            to_send = refused
        for message in messages:
            self._settle(message, results[message.key])
        return [results[m.key] for m in messages]

    def _send_one(self, message: Message, token: str) -> Result | None:
        """Runs in a thread: HTTP only. None when WeChat refused the token."""
        body = {
            "touser": message.address,
            "template_id": message.options["template_id"],
            "miniprogram_state": settings.SCRM_MINIPROGRAM_STATE,
            "lang": "zh_CN",
            "data": {name: {"value": _value(name, text)} for name, text in message.fields.items()},
        }
        if message.options.get("page"):
            body["page"] = message.options["page"]
        url = (
            f"{settings.SCRM_WECHAT_API_BASE}/cgi-bin/message/subscribe/send"
            f"?access_token={urllib.parse.quote(token)}"
        )
        try:
            payload = http_call(url, method="POST", json_body=body).json()
        except TransientError as exc:
            return Result(Outcome.RETRY, reason=str(exc))
        errcode = int(payload.get("errcode") or 0)
        if not errcode:
            return Result(Outcome.SENT, provider_id=str(payload.get("msgid", "")))
        if errcode in TOKEN_ERRORS:
            return None
        reason = f"WeChat {errcode}: {payload.get('errmsg', '')}"
        if errcode == NO_SUBSCRIPTION:
            return Result(Outcome.FAILED, reason=f"no subscription ({reason})")
        if errcode in TRANSIENT_ERRORS:
            return Result(Outcome.RETRY, reason=reason)
        return Result(Outcome.FAILED, reason=reason)

    def _settle(self, message: Message, result: Result) -> None:
        """Keep the counts true to what WeChat said."""
        if result.outcome != Outcome.FAILED:
            return
        template_id = message.options["template_id"]
        if result.reason.startswith("no subscription"):
            subscription_exhausted(member_id=message.member_id, template_id=template_id)
        else:
            # Refused for its data, template or page: nothing of the member's was used.
            subscription_refund(key=message.key)
