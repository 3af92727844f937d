from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from referrals.choices import FissionCounts


class FissionTask(models.Model):
    """A fission task (裂变任务): invite ``goal`` friends who sign up (or buy) between the start
    and the end, and earn the reward. Only a member's own invitees count (one level): a reward
    for headcount further down would be pyramid selling."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    counts = models.CharField(
        _("counts"), max_length=10, choices=FissionCounts, default=FissionCounts.PURCHASE
    )
    goal = models.PositiveSmallIntegerField(_("friends needed"), default=3)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    reward_points = models.PositiveIntegerField(_("reward points"), default=0)
    reward_coupon = models.ForeignKey(
        "members.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward coupon"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("fission task")
        verbose_name_plural = _("fission tasks")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(goal__gte=1), name="fission_goal_positive"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="fission_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.name


class FissionProgress(models.Model):
    """How many friends a member has brought for a task; recomputed from the referrals (never
    incremented), so a redelivered event cannot count a friend twice."""

    task = models.ForeignKey(
        FissionTask, on_delete=models.CASCADE, related_name="progress", verbose_name=_("task")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="fission_progress",
        verbose_name=_("member"),
    )
    count = models.PositiveIntegerField(_("friends"), default=0)
    reached_at = models.DateTimeField(_("goal reached at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fission progress")
        verbose_name_plural = _("fission progress")
        constraints = [
            models.UniqueConstraint(fields=["task", "member"], name="fission_progress_once"),
        ]
        indexes = [
            models.Index(fields=["task", "-count", "reached_at"], name="fission_leaderboard"),
        ]

    def __str__(self):
        return f"{self.task_id}/{self.member_id}: {self.count}"
