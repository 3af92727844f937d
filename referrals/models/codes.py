from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ReferralCode(models.Model):
    """A short code a member or a shop guide (导购码) hands out; links and posters carry it.

    Codes use an alphabet without look-alike characters (no 0/O, 1/I/L), so a code read off a
    poster can be typed. A member or guide normally has one; a merge may leave two with the
    survivor, and both keep working."""

    code = models.CharField(pgettext_lazy("referral", "code"), max_length=12, unique=True)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="referral_codes",
        verbose_name=_("member"),
    )
    guide = models.ForeignKey(
        "members.Guide",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="referral_codes",
        verbose_name=_("shop guide"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")
        constraints = [
            models.CheckConstraint(
                condition=(Q(member__isnull=False) & Q(guide__isnull=True))
                | (Q(member__isnull=True) & Q(guide__isnull=False)),
                name="referral_code_one_owner",
            ),
        ]

    def __str__(self):
        return self.code

    @property
    def owner_label(self) -> str:
        return str(self.guide) if self.guide_id else f"#{self.member_id}"
