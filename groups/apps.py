from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    """Community groups, join codes and flash groups (see issue: community groups)."""

    name = "groups"
    verbose_name = _("Community groups")
