from django.db import models
from django.utils.translation import gettext_lazy as _

from referrals.choices import FingerprintKind


class Fingerprint(models.Model):
    """A keyed hash of a phone, union id or device fingerprint seen for a member in a referral
    (as referee or referrer). Identities are unique among members at any one time, so sharing
    shows up through history (a number given up and signed up with again) and through devices;
    raw values are never stored here. Deleted when the member is erased."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="referral_fingerprints",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=FingerprintKind)
    digest = models.CharField(_("digest"), max_length=32)
    seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral fingerprint")
        verbose_name_plural = _("referral fingerprints")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "digest"], name="referral_fingerprint_once"
            ),
        ]
        indexes = [models.Index(fields=["kind", "digest"], name="referral_fingerprint_digest")]

    def __str__(self):
        return f"{self.member_id} {self.kind}"
