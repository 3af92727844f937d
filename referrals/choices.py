"""Enumerations of the referrals app."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ReferralStatus(models.TextChoices):
    # Waiting for the referee's first qualifying paid order (until ``qualify_by``).
    PENDING = "pending", _("waiting for a first order")
    QUALIFIED = "qualified", _("qualified")
    # The window closed without a qualifying order.
    EXPIRED = "expired", _("expired")
    # The qualifying order was refunded: the rewards were clawed back and it never re-qualifies.
    REFUNDED = "refunded", _("first order refunded")
    # The referee's record was merged into another member; the survivor's referral counts.
    MERGED = "merged", _("merged into another member")


class ReferralChannel(models.TextChoices):
    SIGNUP = "signup", _("sign-up with a code")
    SCAN = "scan", _("code scanned after sign-in")
    API = "api", _("shop system (API)")
    ADMIN = "admin", _("operator")


class RewardKind(models.TextChoices):
    REFERRER = "referrer", _("referrer's reward for a new buyer")
    REFEREE = "referee", _("new buyer's welcome reward")
    COMMISSION_1 = "commission_1", _("commission, level 1")
    COMMISSION_2 = "commission_2", _("commission, level 2")
    FISSION = "fission", _("fission task reward")


class RewardStatus(models.TextChoices):
    # Only ever seen inside the transaction that inserted the row: the one that writes the
    # ledger (referrals.services.rewards). Never committed.
    NEW = "new", _("being created")
    # Flagged by the abuse checks (or not payable right now): waits for an operator.
    HELD = "held", _("held for review")
    # A context keeps it apart from consent's "granted" (授权) in the shared catalogue.
    GRANTED = "granted", pgettext_lazy("reward status", "granted")
    REJECTED = "rejected", _("rejected")
    CLAWED_BACK = "clawed_back", _("clawed back")


class FissionCounts(models.TextChoices):
    SIGNUP = "signup", _("friends who sign up")
    PURCHASE = "purchase", _("friends who buy")


class FingerprintKind(models.TextChoices):
    PHONE = "phone", _("phone")
    UNIONID = "unionid", _("WeChat union id")
    DEVICE = "device", _("device fingerprint")


class Flag(models.TextChoices):
    """Why a referral's rewards are held for review."""

    SHARED_PHONE = "shared_phone", _("shares a phone number with the referrer or their invitees")
    SHARED_UNIONID = "shared_unionid", _("shares a WeChat account with the referrer or invitees")
    SHARED_DEVICE = "shared_device", _("shares a device with the referrer or their invitees")
    BURST = "burst", _("one of many sign-ups from the same code in a short time")
    MERGED_SELF = "merged_self", _("the referee and an upline member were merged: same person")


def flag_labels(codes) -> list[str]:
    """The translated labels of stored flag codes, in their order (an unknown code as is)."""
    labels = dict(Flag.choices)
    return [str(labels.get(code, code)) for code in codes or []]
