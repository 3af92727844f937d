from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.choices import OrderStatus


class Order(models.Model):
    """A paid order pushed by a shop backend, POS or import; upserted by (source, external id)."""

    source = models.CharField(_("order source"), max_length=32, default="pos")
    external_id = models.CharField(_("external id"), max_length=64)
    # NULL only for orders of an erased member: kept for accounting, pointing to nobody
    # (members.services.privacy, docs/decisions.md).
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("member"),
    )
    store = models.ForeignKey(
        "members.Store",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("store"),
    )
    paid_amount = models.DecimalField(_("paid amount"), max_digits=12, decimal_places=2)
    gross_margin = models.DecimalField(
        _("gross margin"), max_digits=12, decimal_places=2, default=0
    )
    item_count = models.PositiveIntegerField(_("items"), default=1)
    paid_at = models.DateTimeField(_("paid at"))
    status = models.CharField(
        _("status"), max_length=10, choices=OrderStatus, default=OrderStatus.PAID
    )
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="order_external_unique"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="order_paid_not_negative"),
        ]
        indexes = [
            models.Index(fields=["member", "paid_at"], name="order_member_paid_at"),
            models.Index(fields=["paid_at"], name="order_paid_at"),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id}"
