"""Enumerations shared by models, services, API and admin."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("unknown")
    MALE = "male", _("male")
    FEMALE = "female", _("female")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    # Kept as a tombstone after a merge so old ids still resolve to the survivor.
    MERGED = "merged", _("merged into another member")
    ERASED = "erased", _("erased on request")


class ConsentChannel(models.TextChoices):
    """Purposes a member consents to separately (PIPL: consent is per purpose)."""

    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom messages")
    MINIPROGRAM = "miniprogram", _("mini-program messages")
    EMAIL = "email", _("email")
    PHONE_CALL = "phone_call", _("phone calls")
    PERSONALISATION = "personalisation", _("personalised recommendations")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("granted")
    WITHDRAWN = "withdrawn", _("withdrawn")


class TagSource(models.TextChoices):
    MANUAL = "manual", _("manual")
    RULE = "rule", _("rule")
    IMPORT = "import", _("import")
    API = "api", _("API")


class OrderStatus(models.TextChoices):
    PAID = "paid", _("paid")
    REFUNDED = "refunded", _("refunded")


class PointsKind(models.TextChoices):
    EARN = "earn", _("earned")
    SPEND = "spend", _("spent")
    EXPIRE = "expire", _("expired")
    ADJUST = "adjust", _("adjusted")


class CouponStatus(models.TextChoices):
    ISSUED = "issued", _("issued")
    REDEEMED = "redeemed", _("redeemed")
    EXPIRED = "expired", _("expired")
    VOID = "void", _("void")


# Where members come from. Brands add their own in settings.SCRM_EXTRA_SOURCE_CHANNELS
# as (code, label) pairs, so the field stores a code and is validated here, not by DB choices.
BUILTIN_SOURCE_CHANNELS = [
    ("offline_store", _("offline store")),
    ("miniprogram", _("mini-program")),
    ("official_account", _("official account")),
    ("wecom", _("WeCom")),
    ("douyin", _("Douyin")),
    ("kuaishou", _("Kuaishou")),
    ("xiaohongshu", _("Xiaohongshu")),
    ("weibo", _("Weibo")),
    ("tmall", _("Tmall")),
    ("jd", _("JD")),
    ("referral", _("referral")),
    ("ground_promotion", _("ground promotion")),
    ("import", _("import")),
    ("other", _("other")),
]


def source_channels() -> list[tuple[str, str]]:
    """All source channels: the built-in ones plus the brand's from settings."""
    extra = getattr(settings, "SCRM_EXTRA_SOURCE_CHANNELS", [])
    return BUILTIN_SOURCE_CHANNELS + [(code, label) for code, label in extra]


def source_channel_codes() -> set[str]:
    """Codes accepted as a member's source channel."""
    return {code for code, _label in source_channels()}
