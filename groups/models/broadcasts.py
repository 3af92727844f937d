from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from groups.choices import DeliveryStatus


class GroupBroadcast(models.Model):
    """A message to community groups (群发到客户群). WeCom turns it into one task per group owner,
    which the owner confirms in WeCom; ``deliveries`` is its outbox, one row per owner."""

    text = models.TextField(_("text"))
    group_ids = models.JSONField(_("groups addressed"), default=list)
    # Groups that could not be sent to, with why: {"group_id", "reason"}.
    skipped = models.JSONField(_("groups left out"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("group broadcast")
        verbose_name_plural = _("group broadcasts")
        ordering = ["-pk"]

    def __str__(self):
        return self.text[:30]


class BroadcastDelivery(models.Model):
    """One group owner's share of a broadcast: their groups' chat ids, sent as one WeCom task.

    ``key`` is unique, so a broadcast never makes two rows for one owner; a worker claims rows
    (``sending``) before calling the sender and a claim older than a few minutes is handed
    back, so a crash never loses a row and a duplicate task never sends one twice at once."""

    key = models.CharField(_("key"), max_length=64, unique=True)
    broadcast = models.ForeignKey(
        GroupBroadcast,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("group broadcast"),
    )
    owner = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner (shop guide)"),
    )
    sender = models.CharField(_("WeCom user id of the owner"), max_length=64)
    chat_ids = models.JSONField(_("WeCom chat ids"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    send_after = models.DateTimeField(_("send after"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # Which claim holds the row: only that claim writes its result.
    claim = models.CharField(_("claim"), max_length=32, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_id = models.CharField(_("WeCom msgid"), max_length=128, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("broadcast delivery")
        verbose_name_plural = _("broadcast deliveries")
        indexes = [
            models.Index(
                fields=["send_after"],
                name="delivery_due",
                condition=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            ),
        ]

    def __str__(self):
        return self.key
