from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    """The core: stores, guides, members and their identities, tags, orders, benefits, events."""

    name = "members"
    verbose_name = _("Members")

    def ready(self):
        from members.segments.core import register_core_fields
        from members.value.segments import register_value_fields

        register_core_fields()
        register_value_fields()
