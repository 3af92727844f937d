from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """A fact about a member: their timeline, and what other apps react to (DESIGN.md)."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="events", verbose_name=_("member")
    )
    kind = models.CharField(_("kind"), max_length=40)
    data = models.JSONField(_("data"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    # When the row was written, which is not when it happened: an order paid last week and
    # pushed now occurred last week. The dispatch sweep goes by this. The database default
    # covers rows inserted by raw SQL (the metrics refresh, the demo loader).
    recorded_at = models.DateTimeField(
        _("recorded at"), default=timezone.now, db_default=Now(), editable=False
    )
    # Set once the registered handlers have run; a sweep re-sends events left undispatched.
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["member", "-occurred_at"], name="event_member_time"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time"),
            models.Index(
                fields=["id"],
                name="event_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.kind} #{self.member_id}"


class AuditLog(models.Model):
    """Who exported, unmasked, merged or erased what, and when. Never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor label"), max_length=100, blank=True)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target = models.CharField(_("target"), max_length=200, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.action} {self.target}"
