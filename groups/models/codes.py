from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from groups.choices import GroupPurpose
from groups.conf import MAX_CAPACITY, default_capacity


class JoinCode(models.Model):
    """A join code (群活码): one QR code for a pool of groups. Each newcomer is sent to the first
    open group of the pool with room; when every group is full, the next one is opened from the
    template below (``group_*``), unless ``auto_open`` is off or ``max_groups`` is reached.

    Joins are counted from the memberships the code made (groups.selectors.join_code_counts),
    not kept on this row: a counter here would make every join of the code queue on one row,
    and would take this row's lock after a group's, against the order the overflow path
    takes them in (groups.services.seats)."""

    code = models.CharField(pgettext_lazy("join code", "code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    store = models.ForeignKey(
        "members.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="group_join_codes",
        verbose_name=_("store"),
        help_text=_("Empty: a brand-wide code, seen by operators only."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    # Template of the groups this code opens when its pool is full.
    auto_open = models.BooleanField(
        _("open a new group when all are full"),
        default=True,
    )
    max_groups = models.PositiveSmallIntegerField(
        _("at most this many groups"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Open and full groups of the pool (dissolved ones do not count). Empty: no limit. "
            "A WeCom join code serves up to 5 groups."
        ),
    )
    group_name = models.CharField(
        _("name of a new group"),
        max_length=100,
        blank=True,
        help_text=_("{n} is the group's number in the pool. Empty: the code's name and {n}."),
    )
    group_purpose = models.CharField(
        _("purpose of a new group"),
        max_length=16,
        choices=GroupPurpose,
        default=GroupPurpose.SERVICE,
    )
    group_owner = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner of a new group"),
    )
    group_capacity = models.PositiveIntegerField(
        _("capacity of a new group"),
        default=default_capacity,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY)],
    )
    group_expires_at = models.DateTimeField(
        _("new groups expire at"),
        null=True,
        blank=True,
        help_text=_("Required for flash-sale groups: the end of the sale."),
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("join code")
        verbose_name_plural = _("join codes")

    def __str__(self):
        return f"{self.name} ({self.code})"
