"""Exchanging a mini-program login code for WeChat identities.

The client is configurable (settings.SCRM_WECHAT_CLIENT, a dotted path) so tests and the embedded
default use a fake and nothing here touches the network unless a real app id is configured.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


class WeChatLoginError(Exception):
    """WeChat refused the code (expired, reused, wrong app)."""


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None


class MiniProgramClient:
    """Calls WeChat's jscode2session with the app id and secret from settings."""

    url = "https://api.weixin.qq.com/sns/jscode2session"

    def code_to_session(self, code: str) -> WeChatSession:
        query = urllib.parse.urlencode(
            {
                "appid": settings.SCRM_WECHAT_APP_ID,
                "secret": settings.SCRM_WECHAT_APP_SECRET,
                "js_code": code,
                "grant_type": "authorization_code",
            }
        )
        with urllib.request.urlopen(f"{self.url}?{query}", timeout=5) as response:  # noqa: S310
            payload = json.loads(response.read().decode())
        if payload.get("errcode"):
            raise WeChatLoginError(f"{payload.get('errcode')}: {payload.get('errmsg')}")
        return WeChatSession(openid=payload["openid"], unionid=payload.get("unionid"))

    def _get_json(self, url: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read().decode())

    def phone_number(self, code: str) -> str:
        """The phone number shared with the getPhoneNumber button, as WeChat confirms it."""
        query = urllib.parse.urlencode(
            {
                "grant_type": "client_credential",
                "appid": settings.SCRM_WECHAT_APP_ID,
                "secret": settings.SCRM_WECHAT_APP_SECRET,
            }
        )
        token = self._get_json(f"https://api.weixin.qq.com/cgi-bin/token?{query}")
        if "access_token" not in token:
            raise WeChatLoginError(f"{token.get('errcode')}: {token.get('errmsg')}")
        payload = self._get_json(
            "https://api.weixin.qq.com/wxa/business/getuserphonenumber?access_token="
            + urllib.parse.quote(token["access_token"]),
            {"code": code},
        )
        if payload.get("errcode"):
            raise WeChatLoginError(f"{payload.get('errcode')}: {payload.get('errmsg')}")
        info = payload["phone_info"]
        return f"+{info['countryCode']}{info['purePhoneNumber']}"


class DevMiniProgramClient:
    """For the embedded default and tests: the code "dev-<x>" signs in open id "dev-openid-<x>"."""

    def code_to_session(self, code: str) -> WeChatSession:
        if not code.startswith("dev-") or len(code) < 5:
            raise WeChatLoginError("invalid code")
        suffix = code[4:]
        return WeChatSession(openid=f"dev-openid-{suffix}", unionid=f"dev-unionid-{suffix}")

    def phone_number(self, code: str) -> str:
        """The code "dev-phone-<number>" shares <number>."""
        if not code.startswith("dev-phone-") or len(code) <= len("dev-phone-"):
            raise WeChatLoginError("invalid phone code")
        return code[len("dev-phone-") :]


def wechat_client():
    """The configured mini-program client."""
    return import_string(settings.SCRM_WECHAT_CLIENT)()
