"""Normalising and masking identities (phones, WeChat ids)."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def phone_normalise(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` as E.164 (+8613812345678); numbers without a country code default to +86."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Phone number is empty."), code="invalid_phone")
    region = region or getattr(settings, "SCRM_DEFAULT_PHONE_REGION", "CN")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("“%(phone)s” is not a phone number."), code="invalid_phone", params={"phone": text}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(phone)s” is not a valid phone number."),
            code="invalid_phone",
            params={"phone": text},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_mask(phone: str | None) -> str | None:
    """Mask a phone for guides: +8613812341234 -> 138****1234 (national part, middle hidden)."""
    if not phone:
        return phone
    national = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(national) < 7:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"


def id_mask(value: str | None) -> str | None:
    """Mask an opaque id (union id, open id) to its first and last four characters."""
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}…{value[-4:]}"


def email_mask(value: str | None) -> str | None:
    """Mask an email address for guides: wang.xiaoming@example.com -> w***@example.com."""
    if not value:
        return value
    local, at, domain = value.rpartition("@")
    if not at:
        return id_mask(value)
    return f"{local[:1]}***@{domain}"
