from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from referrals.choices import RewardKind, RewardStatus


class Reward(models.Model):
    """One reward to one member, paid through the members' points and coupon ledgers.

    ``key`` is unique per rule and order (``referrer:<order id>``, ``commission_2:<order id>``)
    or per fission task and member (``fission:<task id>:<member id>``): the row is inserted with
    ON CONFLICT DO NOTHING and the ledger is written only by the transaction that inserted it,
    so retries, redelivered events and concurrent workers pay once."""

    key = models.CharField(_("key"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=RewardKind)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="referral_rewards",
        verbose_name=_("member"),
    )
    programme = models.ForeignKey(
        "referrals.Programme",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("programme"),
    )
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=pgettext_lazy("referral record", "referral"),
    )
    order = models.ForeignKey(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    task = models.ForeignKey(
        "referrals.FissionTask",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("fission task"),
    )
    points = models.PositiveIntegerField(_("points"), default=0)
    coupon_template = models.ForeignKey(
        "members.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    # What the ledgers wrote. SET_NULL: an erasure deletes the member's points ledger.
    points_entry = models.ForeignKey(
        "members.PointsEntry",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points entry"),
    )
    coupon = models.ForeignKey(
        "members.Coupon",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon issued"),
    )
    status = models.CharField(_("status"), max_length=12, choices=RewardStatus)
    flags = models.JSONField(_("flags"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    granted_at = models.DateTimeField(_("granted at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    clawed_back_at = models.DateTimeField(_("clawed back at"), null=True, blank=True)
    clawed_points = models.PositiveIntegerField(_("points taken back"), default=0)

    class Meta:
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
        indexes = [
            models.Index(fields=["member", "-id"], name="reward_member"),
            models.Index(fields=["order"], name="reward_order"),
            models.Index(
                fields=["-id"], name="reward_review_queue", condition=Q(status=RewardStatus.HELD)
            ),
        ]

    def __str__(self):
        return self.key


class RewardReview(Reward):
    """The review queue in the admin: rewards held by the abuse checks (a proxy, no table)."""

    class Meta:
        proxy = True
        verbose_name = _("reward to review")
        verbose_name_plural = _("rewards to review")
