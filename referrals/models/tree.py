from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from referrals.choices import ReferralChannel, ReferralStatus
from referrals.fields import TreePathField


class ReferralNode(models.Model):
    """A member's place in the referral forest, with their counts as a referrer.

    ``path`` lists member ids from the root down to this member (``/12/345/6789/``) and
    ``depth`` is 0 at a root. The upline is the path itself (one primary-key lookup); the
    downline is a range of paths (one index range), per level with ``depth``: no recursion.
    Counts are kept in step by referrals.services in the transaction that changes the tree.
    """

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="referral_node",
        verbose_name=_("member"),
    )
    parent = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("referred by"),
    )
    path = TreePathField(_("path"))
    depth = models.PositiveIntegerField(_("depth"), default=0)
    direct_count = models.PositiveIntegerField(_("invitees"), default=0)
    downline_count = models.PositiveIntegerField(_("downline"), default=0)
    qualified_count = models.PositiveIntegerField(_("invitees who bought"), default=0)
    revenue = models.DecimalField(
        _("invitees' revenue"), max_digits=14, decimal_places=2, default=0
    )

    class Meta:
        verbose_name = _("referral tree node")
        verbose_name_plural = _("referral tree")
        indexes = [
            # Subtree counts and per-level counts: an index-only range scan over (path, depth).
            models.Index(fields=["path", "depth"], name="referral_node_path"),
            # One level of a subtree, in path order: a range scan within one depth.
            models.Index(fields=["depth", "path"], name="referral_node_level"),
        ]

    def __str__(self):
        return self.path

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to the parent (empty at a root)."""
        return [int(part) for part in self.path.strip("/").split("/")[:-1]]


class Referral(models.Model):
    """That a member was referred: by whom (a member, or a guide's code), when, through which
    code and programme, and whether their first order has qualified. Attached once at sign-up
    and never changed after (a merge of two records of one person is the one exception)."""

    referee = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="referral",
        verbose_name=_("referred member"),
    )
    referrer = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals_made",
        verbose_name=_("referrer"),
    )
    guide = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("shop guide"),
    )
    code = models.ForeignKey(
        "referrals.ReferralCode",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=pgettext_lazy("referral", "code"),
    )
    programme = models.ForeignKey(
        "referrals.Programme",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("programme"),
    )
    channel = models.CharField(_("how"), max_length=10, choices=ReferralChannel)
    attached_at = models.DateTimeField(_("referred at"))
    qualify_by = models.DateTimeField(_("first order due by"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus, default=ReferralStatus.PENDING
    )
    qualified_order = models.ForeignKey(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("qualifying order"),
    )
    qualified_at = models.DateTimeField(_("qualified at"), null=True, blank=True)
    # Abuse checks (referrals.services.abuse): while set and not cleared, rewards are held.
    flags = models.JSONField(_("flags"), default=list, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cleared by"),
    )
    cleared_at = models.DateTimeField(_("flags cleared at"), null=True, blank=True)

    class Meta:
        # Contexts keep them apart from the source channel "referral" (老带新).
        verbose_name = pgettext_lazy("referral record", "referral")
        verbose_name_plural = pgettext_lazy("referral record", "referrals")
        indexes = [
            models.Index(fields=["referrer", "-attached_at"], name="referral_referrer"),
            models.Index(fields=["code", "attached_at"], name="referral_code_time"),
            models.Index(fields=["programme", "attached_at"], name="referral_programme"),
            models.Index(fields=["programme", "qualified_at"], name="referral_programme_qual"),
            models.Index(
                fields=["qualify_by"],
                name="referral_pending_due",
                condition=models.Q(status=ReferralStatus.PENDING),
            ),
        ]

    def __str__(self):
        return f"{self.referrer_id or self.guide} → {self.referee_id}"

    @property
    def held(self) -> bool:
        """Rewards tied to this referral wait for review."""
        return bool(self.flags) and self.cleared_at is None
