"""Mini-program member tokens: ``Authorization: Member <token>``.

A token is a signed (member id, token version) pair with a timestamp; bumping the member's
token_version (on erasure or a forced sign-out) revokes every token issued before.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from members.choices import MemberStatus
from members.models import Member
from scrm.api.principals import MemberPrincipal

SALT = "scrm.member-token"


def member_token_issue(*, member: Member) -> str:
    """A signed token for ``member``, valid for settings.SCRM_MEMBER_TOKEN_MAX_AGE seconds."""
    return signing.dumps({"m": member.pk, "v": member.token_version}, salt=SALT, compress=True)


def member_token_read(token: str) -> Member | None:
    """The active member a token names, or None when it is forged, expired or revoked."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.SCRM_MEMBER_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    member = Member.objects.filter(pk=payload.get("m"), status=MemberStatus.ACTIVE).first()
    if member is None or member.token_version != payload.get("v"):
        return None
    return member


class MemberTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a mini-program member."""

    keyword = "Member"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace") != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed member token header."))
        member = member_token_read(parts[1].decode(errors="replace"))
        if member is None:
            raise exceptions.AuthenticationFailed(_("Invalid or expired member token."))
        return MemberPrincipal(member_id=member.pk), member

    def authenticate_header(self, request):
        return self.keyword


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.api.auth.MemberTokenAuthentication"
    name = "memberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Member <token> (from POST /api/v1/auth/wechat/)",
        }
