from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Store(models.Model):
    """A physical or online store; guides belong to one, members have a home store."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class Guide(models.Model):
    """A shop guide (导购): a staff user who belongs to one store and sees only its members."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="guide",
        verbose_name=_("user"),
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="guides", verbose_name=_("store")
    )
    name = models.CharField(_("name"), max_length=50)
    # WeCom user id of the guide: 1:1 messages and customer contacts hang on it.
    wecom_userid = models.CharField(_("WeCom user id"), max_length=64, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("shop guide")
        verbose_name_plural = _("shop guides")
        ordering = ["store_id", "name"]

    def __str__(self):
        return self.name
