from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Commission is paid on at most two levels above the buyer: three or more levels paid by
# headcount is the legal shape of pyramid selling in China (FACTS.md). There is no field for a
# third level, and referrals.services.rewards never walks further up than this.
MAX_COMMISSION_LEVELS = 2
MAX_COMMISSION_PERCENT = Decimal("30")


class Programme(models.Model):
    """A referral programme (荐新活动): what a referee's first order and later orders earn.

    At most one programme is active at a time; a referral belongs to the programme in force
    when it was attached, and is rewarded by that programme's rules."""

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=False)
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    poster_title = models.CharField(
        _("poster title"),
        max_length=40,
        blank=True,
        help_text=_("Printed above the QR code on invitation posters."),
    )

    min_order_amount = models.DecimalField(
        _("minimum first order"), max_digits=12, decimal_places=2, default=Decimal("0")
    )
    qualify_within_days = models.PositiveIntegerField(
        _("first order within days"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Days after the referral in which the first order must be paid."),
    )
    referrer_points = models.PositiveIntegerField(_("referrer's points"), default=0)
    referrer_coupon = models.ForeignKey(
        "members.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("referrer's coupon"),
    )
    referee_points = models.PositiveIntegerField(_("new buyer's points"), default=0)
    referee_coupon = models.ForeignKey(
        "members.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("new buyer's coupon"),
    )
    commission_level1_percent = models.DecimalField(
        _("level 1 commission: the referrer, percent of each order"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_COMMISSION_PERCENT)],
        help_text=_("Paid as points (the points per yuan setting applies)."),
    )
    commission_level2_percent = models.DecimalField(
        _("level 2 commission: the referrer's referrer, percent of each order"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_COMMISSION_PERCENT)],
        help_text=_("The last level paid: deeper chains are never paid (pyramid selling)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("referral programme")
        verbose_name_plural = _("referral programmes")
        ordering = ["-is_active", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="referral_one_active_programme",
            ),
            models.CheckConstraint(
                condition=Q(commission_level1_percent__gte=0)
                & Q(commission_level1_percent__lte=MAX_COMMISSION_PERCENT)
                & Q(commission_level2_percent__gte=0)
                & Q(commission_level2_percent__lte=MAX_COMMISSION_PERCENT),
                name="referral_commission_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(min_order_amount__gte=0), name="referral_min_order_not_negative"
            ),
        ]

    def __str__(self):
        return self.name

    def in_force(self, at=None) -> bool:
        """Active, and ``at`` (now by default) inside its dates."""
        at = at or timezone.now()
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )

    def commission_percents(self) -> list[Decimal]:
        """Commission per level above the buyer, nearest first; never more than two levels."""
        return [self.commission_level1_percent, self.commission_level2_percent][
            :MAX_COMMISSION_LEVELS
        ]
