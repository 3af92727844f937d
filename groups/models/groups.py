from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from groups.choices import DissolveReason, GroupPurpose, GroupStatus, JoinMethod, LeaveReason
from groups.conf import MAX_CAPACITY, default_capacity


class CommunityGroup(models.Model):
    """A community group (社群), usually a WeCom customer group run by a shop guide.

    ``member_count`` counts the current members. Seats are taken by a conditional UPDATE
    (``member_count < capacity``, groups.services.seats) and a CHECK constraint backs it, so
    concurrent joins never push a group past its capacity. ``status`` is ``full`` while every
    seat is taken, ``open`` again once one frees up; ``dissolved`` is final. Flash-sale groups
    have ``expires_at``: from then on nobody joins, and a beat job dissolves them once."""

    name = models.CharField(_("name"), max_length=100)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=GroupPurpose, default=GroupPurpose.SERVICE
    )
    store = models.ForeignKey(
        "members.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="community_groups",
        verbose_name=_("store"),
        help_text=_("Empty: a brand-wide group, seen by operators only."),
    )
    owner = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_groups",
        verbose_name=_("owner (shop guide)"),
    )
    capacity = models.PositiveIntegerField(
        _("capacity"),
        default=default_capacity,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY)],
    )
    member_count = models.PositiveIntegerField(_("members"), default=0, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=GroupStatus, default=GroupStatus.OPEN, editable=False
    )
    wecom_chat_id = models.CharField(
        _("WeCom chat id"),
        max_length=64,
        blank=True,
        help_text=_("The customer group's chat_id in WeCom, for broadcasts."),
    )
    invite_link = models.CharField(
        _("invitation link"),
        max_length=500,
        blank=True,
        help_text=_("Shown to a member once they are given a seat: the group's QR or link."),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    join_code = models.ForeignKey(
        "groups.JoinCode",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="groups",
        verbose_name=_("join code"),
    )
    # Order within the code's pool: newcomers fill the lowest first.
    position = models.PositiveIntegerField(_("position in the pool"), default=0)

    notice_sent_at = models.DateTimeField(_("end notice sent"), null=True, blank=True)
    dissolved_at = models.DateTimeField(_("dissolved at"), null=True, blank=True)
    dissolve_reason = models.CharField(
        _("why dissolved"), max_length=10, choices=DissolveReason, blank=True
    )
    # The sales report written when the group is dissolved (groups.selectors.group_sales).
    sales_orders = models.PositiveIntegerField(_("orders in its life"), default=0)
    sales_buyers = models.PositiveIntegerField(_("buyers in its life"), default=0)
    sales_revenue = models.DecimalField(
        _("revenue in its life"), max_digits=14, decimal_places=2, default=0
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("community group")
        verbose_name_plural = _("community groups")
        constraints = [
            models.CheckConstraint(
                condition=Q(member_count__lte=F("capacity")), name="group_within_capacity"
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="group_capacity_positive"),
            models.CheckConstraint(
                condition=~Q(purpose=GroupPurpose.FLASH_SALE) | Q(expires_at__isnull=False),
                name="group_flash_has_expiry",
            ),
            models.UniqueConstraint(
                fields=["wecom_chat_id"],
                condition=~Q(wecom_chat_id=""),
                name="group_wecom_chat_unique",
            ),
        ]
        indexes = [
            # Routing a newcomer: the open groups of a pool in order.
            models.Index(fields=["join_code", "status", "position"], name="group_pool"),
            # The flash jobs: groups not yet dissolved that have an end.
            models.Index(
                fields=["expires_at"],
                name="group_expiring",
                condition=Q(expires_at__isnull=False) & ~Q(status=GroupStatus.DISSOLVED),
            ),
            models.Index(fields=["store", "-id"], name="group_store_id"),
        ]

    def __str__(self):
        return self.name

    @property
    def seats_left(self) -> int:
        if self.status == GroupStatus.DISSOLVED:
            return 0
        return max(self.capacity - self.member_count, 0)


class GroupMembership(models.Model):
    """A member's stay in a group: joined, and left (``left_at``) or still there. History is
    kept: leaving and joining again makes a second row. At most one current row per member and
    group (a partial unique index)."""

    group = models.ForeignKey(
        CommunityGroup,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("community group"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="group_memberships",
        verbose_name=_("member"),
    )
    how = models.CharField(_("joined by"), max_length=16, choices=JoinMethod)
    code = models.ForeignKey(
        "groups.JoinCode",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("join code"),
    )
    rule = models.ForeignKey(
        "groups.LayeringRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("layering rule"),
    )
    invited_by = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="group_invitations",
        verbose_name=_("invited by"),
    )
    joined_at = models.DateTimeField(_("joined at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    left_reason = models.CharField(_("why left"), max_length=10, choices=LeaveReason, blank=True)

    class Meta:
        verbose_name = _("group membership")
        verbose_name_plural = _("group memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["group", "member"],
                condition=Q(left_at__isnull=True),
                name="membership_one_current",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")),
                name="membership_left_after_joined",
            ),
        ]
        indexes = [
            # A member's current groups ("my groups", segment fields, merges).
            models.Index(
                fields=["member", "group"],
                name="membership_member_current",
                condition=Q(left_at__isnull=True),
            ),
            # Joins and leaves per day of a group.
            models.Index(fields=["group", "joined_at"], name="membership_group_joined"),
            models.Index(
                fields=["group", "left_at"],
                name="membership_group_left",
                condition=Q(left_at__isnull=False),
            ),
            models.Index(fields=["joined_at"], name="membership_joined"),
        ]

    def __str__(self):
        return f"{self.member_id} @ {self.group_id}"

    @property
    def is_current(self) -> bool:
        return self.left_at is None
