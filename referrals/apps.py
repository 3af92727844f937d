from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    """Referral codes, the referral tree, rewards and fission tasks (see issue: referrals)."""

    name = "referrals"
    verbose_name = _("Referrals")
