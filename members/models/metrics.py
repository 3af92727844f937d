from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LifecycleStage(models.TextChoices):
    """Where a member stands in the purchase lifecycle (rules: docs/metrics.md)."""

    PROSPECT = "prospect", _("prospect")
    NEW = "new", _("new")
    ACTIVE = "active", _("active")
    AT_RISK = "at_risk", _("at risk")
    DORMANT = "dormant", _("dormant")
    CHURNED = "churned", _("churned")
    WON_BACK = "won_back", _("won back")


class MemberMetrics(models.Model):
    """A member's RFM scores and lifecycle stage, recomputed nightly from paid orders by
    members.services.metrics.member_metrics_refresh (never edited elsewhere).

    Scores are 1-5, higher is better, and NULL for members with no paid order in the RFM
    window. Recency is stored as the last purchase time, not as a day count, so that a row only
    changes when the member's values do (``recency_days`` derives the count)."""

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="metrics",
        verbose_name=_("member"),
    )
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("orders in window"), default=0)
    monetary = models.DecimalField(_("paid in window"), max_digits=14, decimal_places=2, default=0)
    r_score = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    # r * 100 + f * 10 + m, e.g. 545; NULL when not scored.
    rfm = models.PositiveSmallIntegerField(_("RFM"), null=True, blank=True)
    stage = models.CharField(_("lifecycle stage"), max_length=10, choices=LifecycleStage)
    # NULL while the stage is the one found by the first computation (its start is unknown).
    stage_changed_at = models.DateTimeField(_("stage changed at"), null=True, blank=True)
    # The time of the refresh that last changed any value of this row.
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("member metrics")
        verbose_name_plural = _("member metrics")
        constraints = [
            models.CheckConstraint(
                condition=Q(r_score__range=(1, 5), f_score__range=(1, 5), m_score__range=(1, 5)),
                name="metrics_scores_1_to_5",
            ),
        ]
        # What segment conditions filter on: the stage (and how long since it changed), and
        # each score on its own (PostgreSQL combines them with a BitmapAnd).
        indexes = [
            models.Index(fields=["stage", "stage_changed_at"], name="metrics_stage"),
            models.Index(fields=["r_score"], name="metrics_r_score"),
            models.Index(fields=["f_score"], name="metrics_f_score"),
            models.Index(fields=["m_score"], name="metrics_m_score"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.stage} {self.rfm or '-'}"

    @property
    def recency_days(self) -> int | None:
        """Days from the last purchase to today, in local dates (TIME_ZONE); None if never."""
        if self.last_purchase_at is None:
            return None
        return (timezone.localdate() - timezone.localdate(self.last_purchase_at)).days
