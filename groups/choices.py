"""Enumerations of the groups app."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class GroupPurpose(models.TextChoices):
    SERVICE = "service", _("customer service")
    VIP = "vip", _("VIP")
    INTEREST = "interest", _("interest")
    FLASH_SALE = "flash_sale", _("flash sale")


class GroupStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("group status", "open")
    # Every seat taken; it opens again when someone leaves or the capacity is raised.
    FULL = "full", pgettext_lazy("group status", "full")
    DISSOLVED = "dissolved", _("dissolved")


class JoinMethod(models.TextChoices):
    CODE = "code", _("join code")
    GUIDE_INVITE = "guide_invite", _("invited by staff")
    RULE = "rule", _("layering rule")


class LeaveReason(models.TextChoices):
    LEFT = "left", _("left the group")
    REMOVED = "removed", _("removed by staff")
    DISSOLVED = "dissolved", _("group dissolved")
    MERGED = "merged", _("merged into another member")
    ERASED = "erased", _("personal data erased")


class DissolveReason(models.TextChoices):
    EXPIRED = "expired", _("flash sale ended")
    STAFF = "staff", _("dissolved by staff")


class LayeringRunStatus(models.TextChoices):
    # Counted (the dry run): nothing written yet; an operator applies it or lets it be.
    PREVIEWED = "previewed", _("dry run counted")
    PENDING = "pending", _("waiting for a worker")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("waiting to be sent")
    SENDING = "sending", _("being sent")
    SENT = "sent", _("sent to WeCom")
    FAILED = "failed", pgettext_lazy("delivery status", "failed")
