"""DRF authentication for server API keys: ``Authorization: Api-Key <prefix>.<secret>``."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from scrm.api.keys import api_key_verify
from scrm.api.principals import ApiKeyPrincipal


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates shop backends and POS systems by hashed, scoped API key."""

    keyword = "Api-Key"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace") != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed API key header."))
        key = api_key_verify(parts[1].decode(errors="replace"))
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return ApiKeyPrincipal(key_id=key.pk, name=key.name, scopes=frozenset(key.scopes)), key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "scrm.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Api-Key <prefix>.<secret>",
        }
