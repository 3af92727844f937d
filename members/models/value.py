from django.db import models
from django.utils.translation import gettext_lazy as _


class PurchaseModel(models.TextChoices):
    BGNBD = "bgnbd", _("BG/NBD")
    AVERAGE_INTERVAL = "average_interval", _("average interval (fallback)")


class SpendModel(models.TextChoices):
    GAMMA_GAMMA = "gamma_gamma", _("Gamma-Gamma")
    AVERAGE = "average", _("member's average (fallback)")


class ValueModelFit(models.Model):
    """One fit of the purchase and spend models to members' order history up to
    ``calibration_end`` (members.services.value.value_models_fit; docs/value.md). Read-only
    once written: scoring uses the latest fit."""

    fitted_at = models.DateTimeField(_("fitted at"), db_index=True)
    calibration_end = models.DateTimeField(_("calibration end"))
    purchase_model = models.CharField(_("purchase model"), max_length=20, choices=PurchaseModel)
    spend_model = models.CharField(_("spend model"), max_length=20, choices=SpendModel)
    # {"time_unit": "day", "bgnbd": {"r", "alpha", "a", "b"} | null,
    #  "average_interval": {"interval_days"}, "gamma_gamma": {"p", "q", "v"} | null,
    #  "average_spend": {"order_value"}}
    params = models.JSONField(_("parameters"))
    # BG/NBD's total log-likelihood over the fitted members; NULL for the fallback.
    log_likelihood = models.FloatField(_("log-likelihood"), null=True, blank=True)
    # True only when both real models were fitted and converged; False when either fell back
    # (diagnostics say which and why).
    converged = models.BooleanField(
        _("both models fitted"),
        help_text=_(
            "BG/NBD and Gamma-Gamma both converged; otherwise a fallback was used (see the "
            "diagnostics)."
        ),
    )
    n_members = models.PositiveIntegerField(_("members fitted"))
    diagnostics = models.JSONField(_("diagnostics"), default=dict)

    class Meta:
        verbose_name = _("value model fit")
        verbose_name_plural = _("value model fits")
        ordering = ["-fitted_at", "-id"]

    def __str__(self):
        return f"{self.fitted_at:%Y-%m-%d %H:%M} {self.purchase_model}+{self.spend_model}"


class MemberValue(models.Model):
    """A member's predicted value, rewritten for every active member with a paid order by the
    nightly scoring (members.services.value.member_value_score; never edited elsewhere).
    Members who never bought have no row: the models start at a first purchase. A NULL
    prediction is one that came out non-finite (logged by the scoring), never stored as NaN.

    Purchases are purchase days: several orders on one local day count as one purchase."""

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="value",
        verbose_name=_("member"),
    )
    p_alive = models.FloatField(_("probability still a customer"), null=True, blank=True)
    expected_purchases_30 = models.FloatField(
        _("expected purchases, next 30 days"), null=True, blank=True
    )
    expected_purchases_90 = models.FloatField(
        _("expected purchases, next 90 days"), null=True, blank=True
    )
    expected_purchases_365 = models.FloatField(
        _("expected purchases, next 365 days"), null=True, blank=True
    )
    expected_order_value = models.DecimalField(
        _("expected order value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    clv = models.DecimalField(
        _("predicted CLV"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    next_purchase_on = models.DateField(_("expected next purchase"), null=True, blank=True)
    value_score = models.DecimalField(
        _("value score"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    referral_index = models.FloatField(_("referral index"), default=1.0)
    scored_at = models.DateTimeField(_("scored at"))

    class Meta:
        verbose_name = _("member value")
        verbose_name_plural = _("member values")
        # The repurchase trigger picks the members due on a day. Other predictions have no
        # index: segment conditions on them select large shares of members, and every index
        # makes the nightly rewrite of a million rows slower (docs/value.md).
        indexes = [models.Index(fields=["next_purchase_on"], name="value_next_purchase")]

    def __str__(self):
        return f"{self.member_id} p_alive={self.p_alive}"
