"""Server API keys: issue, verify, revoke. Secrets are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.models import ApiKey

# Scopes an API key can hold. Reading members also covers tags, orders, points and coupons.
SCOPES = {
    "members:read": _("read members, tags, orders and benefits"),
    "members:write": _("create and update members, tag them"),
    "orders:write": _("push orders and refunds"),
    "benefits:write": _("earn and spend points, issue and redeem coupons"),
    "segments:read": _("read segments, count and preview their members"),
    "segments:write": _("create and change segments"),
    "campaigns:read": _("read campaigns, their results and touchpoints"),
    "campaigns:write": _("create, change, launch, pause and cancel campaigns"),
}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; returns (key, the full secret "prefix.secret" to hand over once)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationError({"scopes": [_("Unknown scope: %s") % ", ".join(unknown)]})
    if not name.strip():
        raise ValidationError({"name": [_("A name is required.")]})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name.strip(), prefix=prefix, key_hash=_hash(secret), scopes=sorted(set(scopes))
    )
    return key, f"{prefix}.{secret}"


def api_key_verify(raw: str) -> ApiKey | None:
    """Return the active key matching ``raw`` ("prefix.secret"), or None."""
    prefix, _sep, secret = (raw or "").partition(".")
    if not prefix or not secret:
        return None
    key = ApiKey.objects.filter(prefix=prefix, is_active=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(secret)):
        return None
    # Touch at most once a minute: no write per request on a hot key.
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
