from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _

from members.choices import ConsentChannel, ConsentStatus, Gender, MemberStatus


class Tier(models.Model):
    """A membership tier (e.g. 普通会员, 银卡, 金卡); brands configure their own ladder."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    rank = models.PositiveSmallIntegerField(_("rank"), default=0, help_text=_("Higher is better."))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]

    def __str__(self):
        return self.name


class Member(models.Model):
    """One real customer, whichever channel they came from; identities are unique when set."""

    name = models.CharField(_("name"), max_length=50, blank=True)
    gender = models.CharField(_("gender"), max_length=8, choices=Gender, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)

    # Identities. NULL (not "") when absent, so the unique constraints ignore missing ones.
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True, unique=True)
    unionid = models.CharField(
        _("WeChat union id"), max_length=64, null=True, blank=True, unique=True
    )
    openid = models.CharField(
        _("WeChat open id"), max_length=64, null=True, blank=True, unique=True
    )
    wecom_external_userid = models.CharField(
        _("WeCom external user id"), max_length=64, null=True, blank=True, unique=True
    )
    # A way to reach the member (the email channel), not an identity: families share addresses,
    # so it is neither unique nor used to find who a record belongs to.
    email = models.EmailField(_("email"), null=True, blank=True)

    source = models.CharField(_("source channel"), max_length=32, default="other", db_index=True)
    home_store = models.ForeignKey(
        "members.Store",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("home store"),
    )
    guide = models.ForeignKey(
        "members.Guide",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("owning guide"),
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("tier")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MemberStatus, default=MemberStatus.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merged into"),
    )

    # Purchase stats, recomputed from orders by members.services.orders in the same transaction.
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_paid = models.DecimalField(_("total paid"), max_digits=14, decimal_places=2, default=0)
    total_margin = models.DecimalField(
        _("total margin"), max_digits=14, decimal_places=2, default=0
    )
    points_balance = models.IntegerField(_("points"), default=0)

    # Bumped to revoke every mini-program token issued before.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            ("view_unmasked_phone", _("Can see full phone numbers and WeChat ids")),
            ("export_members", _("Can export members")),
            ("merge_members", _("Can merge members")),
            ("erase_members", _("Can erase members' personal data")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_balance__gte=0), name="member_points_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["home_store", "-id"], name="member_store_id"),
            models.Index(fields=["guide", "-id"], name="member_guide_id"),
            models.Index(fields=["last_purchase_at"], name="member_last_purchase"),
            models.Index(fields=["tier", "-id"], name="member_tier_id"),
            # The admin's "last four digits" search (members.admin.member).
            models.Index(Right("phone", 4), name="member_phone_last4"),
            # On PostgreSQL, migration 0010 also adds member_name_trgm, a trigram GIN index on
            # UPPER(name) for name searches; SQLite has no such index, so it is not declared here.
        ]

    def __str__(self):
        return self.name or f"#{self.pk}"


class Consent(models.Model):
    """A member's current consent for one purpose; every change is also an event on the timeline."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="consents", verbose_name=_("member")
    )
    channel = models.CharField(_("channel"), max_length=20, choices=ConsentChannel)
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus)
    changed_at = models.DateTimeField(_("changed at"))
    # How it was given or withdrawn: "miniprogram", "sms_reply:TD", "guide", "import" ...
    method = models.CharField(_("how"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["member", "channel"], name="consent_one_per_channel"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.channel}={self.status}"


class MemberMerge(models.Model):
    """Record of two member records merged into one (who, when, what moved)."""

    survivor = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="merges", verbose_name=_("survivor")
    )
    merged_member_id = models.BigIntegerField(_("merged member id"))
    snapshot = models.JSONField(_("merged member's data"), default=dict)
    moved = models.JSONField(_("rows moved"), default=dict)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("merged by"),
    )
    merged_at = models.DateTimeField(_("merged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")

    def __str__(self):
        return f"{self.merged_member_id} → {self.survivor_id}"
