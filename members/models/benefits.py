from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.choices import CouponStatus, PointsKind


class PointsEntry(models.Model):
    """One change of a member's points. The ledger is append-only; the balance sits on Member."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="points_entries",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=PointsKind)
    delta = models.IntegerField(_("points"))
    balance_after = models.IntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=100, blank=True)
    order = models.ForeignKey(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    # For earned points: when they lapse, and how many of them are still unspent (spent FIFO).
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    remaining = models.IntegerField(_("unspent"), default=0)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="points_balance_after_ok"
            ),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="points_remaining_ok"),
        ]
        indexes = [
            models.Index(fields=["member", "-id"], name="points_member_id"),
            models.Index(
                fields=["expires_at"], name="points_expiring", condition=Q(remaining__gt=0)
            ),
        ]

    def __str__(self):
        return f"{self.member_id} {self.delta:+d}"


class CouponTemplate(models.Model):
    """A kind of coupon: value, spending threshold and validity."""

    name = models.CharField(_("name"), max_length=50)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2)
    threshold = models.DecimalField(_("minimum spend"), max_digits=10, decimal_places=2, default=0)
    valid_days = models.PositiveIntegerField(_("valid for days after issue"), default=30)
    total_quantity = models.PositiveIntegerField(
        _("total quantity"), null=True, blank=True, help_text=_("Empty for unlimited.")
    )
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="coupon_value_positive"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="coupon_threshold_ok"),
        ]

    def __str__(self):
        return self.name


class Coupon(models.Model):
    """A coupon issued to a member, with a unique code; redeemed against one order, once."""

    template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("template")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="coupons", verbose_name=_("member")
    )
    code = models.CharField(_("code"), max_length=20, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=CouponStatus, default=CouponStatus.ISSUED
    )
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    redeemed_order = models.OneToOneField(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="coupon",
        verbose_name=_("redeemed on order"),
    )
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    # Set when a coupon is issued on behalf of something that may be retried (a campaign
    # touchpoint's key): issuing again under the same key finds this coupon, never a second.
    issue_key = models.CharField(
        _("issued for"), max_length=80, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [models.Index(fields=["member", "status"], name="coupon_member_status")]

    def __str__(self):
        return self.code
