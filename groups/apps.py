from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    """Community groups, join codes and flash groups, layering rules and group stats."""

    name = "groups"
    verbose_name = _("Community groups")

    def ready(self):
        # members never imports groups: this app plugs itself into members' registries.
        from groups.events import GROUP_EVENT_LABELS
        from groups.segments import register_group_fields
        from groups.services import hooks
        from members.events import event_label_register
        from members.services.members import member_merge_hook_register
        from members.services.privacy import (
            member_data_copy_hook_register,
            member_erase_hook_register,
        )

        member_merge_hook_register(hooks.groups_merge)
        for kind, label in GROUP_EVENT_LABELS.items():
            event_label_register(kind, label)
        member_erase_hook_register(hooks.groups_erase)
        member_data_copy_hook_register(hooks.groups_data_copy)
        register_group_fields()
