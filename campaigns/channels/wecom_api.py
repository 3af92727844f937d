"""The WeCom server API calls the channels need: an access token and add_msg_template.

gettoken: GET /cgi-bin/gettoken?corpid=&corpsecret= -> {"errcode": 0, "access_token", "expires_in"}
add_msg_template: POST /cgi-bin/externalcontact/add_msg_template?access_token= with
{"chat_type": "single"|"group", "sender", "external_userid": [...] | "chat_id_list": [...],
"text": {"content"}} -> {"errcode": 0, "msgid", "fail_list": [...]}. WeCom creates a task the
staff member confirms in the WeCom client; nothing reaches a customer before that.
"""

from __future__ import annotations

import urllib.parse

from django.conf import settings

from campaigns.channels.http import TransientError, http_call
from campaigns.channels.tokens import access_token_forget, access_token_get

# Token no longer valid (expired early, renewed by another caller): fetch a new one, once.
TOKEN_ERRORS = {40001, 40014, 41001, 42001}
# System busy, and the per-API and concurrency limits: worth trying again later.
TRANSIENT_ERRORS = {-1, 45009, 45033}
# A customer mass message text is at most 4000 bytes (UTF-8).
TEXT_MAX_BYTES = 4000


class WeComError(Exception):
    """WeCom answered with a documented error code that retrying will not change."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"WeCom {errcode}: {errmsg}")
        self.errcode = errcode


def wecom_configured() -> bool:
    return bool(settings.SCRM_WECOM_CORP_ID and settings.SCRM_WECOM_SECRET)


def _checked(payload: dict) -> dict:
    errcode = int(payload.get("errcode") or 0)
    if errcode in TRANSIENT_ERRORS:
        raise TransientError(f"WeCom {errcode}: {payload.get('errmsg', '')}")
    if errcode:
        raise WeComError(errcode, str(payload.get("errmsg", "")))
    return payload


def _fetch_token() -> tuple[str, int]:
    query = urllib.parse.urlencode(
        {"corpid": settings.SCRM_WECOM_CORP_ID, "corpsecret": settings.SCRM_WECOM_SECRET}
    )
    reply = http_call(f"{settings.SCRM_WECOM_API_BASE}/cgi-bin/gettoken?{query}")
    payload = _checked(reply.json())
    return payload["access_token"], int(payload.get("expires_in") or 7200)


def _token_name() -> str:
    return f"wecom:{settings.SCRM_WECOM_CORP_ID}"


def wecom_post(path: str, body: dict) -> dict:
    """POST ``body`` to the WeCom API ``path`` with a cached token (renewed once if WeCom no
    longer accepts it). WeComError for documented errors, TransientError for the others."""
    for attempt in (1, 2):
        token = access_token_get(name=_token_name(), fetch=_fetch_token)
        url = f"{settings.SCRM_WECOM_API_BASE}{path}?access_token={urllib.parse.quote(token)}"
        payload = http_call(url, method="POST", json_body=body).json()
        if int(payload.get("errcode") or 0) in TOKEN_ERRORS and attempt == 1:
            access_token_forget(name=_token_name())
            continue
        return _checked(payload)
    raise AssertionError("unreachable")


def msg_template_add(
    *,
    sender: str,
    text: str,
    external_userids: list[str] | None = None,
    chat_ids: list[str] | None = None,
) -> tuple[str, list[str]]:
    """Create a mass-message task for ``sender`` (a WeCom user id): to customers when
    ``external_userids`` is given, else to the customer groups ``chat_ids`` they own.
    Returns (msgid, the ids WeCom refused)."""
    body: dict = {"sender": sender, "allow_select": False, "text": {"content": text}}
    if external_userids is not None:
        body.update(chat_type="single", external_userid=external_userids)
    else:
        body.update(chat_type="group", chat_id_list=chat_ids or [])
    payload = wecom_post("/cgi-bin/externalcontact/add_msg_template", body)
    return str(payload.get("msgid", "")), [str(i) for i in payload.get("fail_list") or []]
