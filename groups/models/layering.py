from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from groups.choices import LayeringRunStatus


class LayeringRule(models.Model):
    """One step of the layering (分层): members of ``segment`` go to the pool of ``join_code``.

    Rules are applied in ``position`` order and the first matching rule wins: a member who
    matches rule 1 is never placed by rule 2, whether or not rule 1 found them a seat."""

    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=100)
    segment = models.ForeignKey(
        "members.Segment",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("segment"),
    )
    join_code = models.ForeignKey(
        "groups.JoinCode",
        on_delete=models.PROTECT,
        related_name="layering_rules",
        verbose_name=_("group pool (join code)"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("layering rule")
        verbose_name_plural = _("layering rules")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.name


class LayeringRun(models.Model):
    """A dry run of the layering rules (counts per rule), and, once an operator applies it,
    what was placed. A worker claims a pending run with a conditional UPDATE, so a duplicate
    task never runs it twice at once; a run left ``running`` by a dead worker is claimed
    again later, which is safe: members already in a pool are skipped."""

    status = models.CharField(
        _("status"),
        max_length=10,
        choices=LayeringRunStatus,
        default=LayeringRunStatus.PREVIEWED,
    )
    preview = models.JSONField(_("dry run"), default=list, blank=True)
    result = models.JSONField(_("result"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("layering run")
        verbose_name_plural = _("layering runs")
        ordering = ["-pk"]

    def __str__(self):
        return f"#{self.pk} {self.get_status_display()}"
