from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    """The shop guide's workspace: phone pages over the other apps' selectors and services."""

    name = "workspace"
    verbose_name = _("guide workspace")
