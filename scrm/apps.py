from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScrmConfig(AppConfig):
    """Project-level pieces that need the ORM: the worker heartbeat and setup commands."""

    name = "scrm"
    verbose_name = _("System")
