from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Campaigns, schedules, touchpoints and delivery channels (see issue: campaign engine)."""

    name = "campaigns"
    verbose_name = _("Campaigns")
