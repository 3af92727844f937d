from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    """Referral codes, the referral tree, rewards, fission tasks and referral metrics."""

    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        # members never imports referrals: this app plugs itself into members' registries.
        from django.utils.translation import gettext_lazy as _

        from members.events import EventKind, event_handler_register, event_label_register
        from members.services.members import member_merge_hook_register
        from members.services.privacy import (
            MEMBER_ERASED,
            member_data_copy_hook_register,
            member_erase_hook_register,
        )
        from members.value.referral import referral_index_register
        from referrals import handlers
        from referrals.segments import register_referral_fields
        from referrals.services import hooks
        from referrals.services.attach import REFERRAL_ATTACHED
        from referrals.value import referral_index_rows

        event_handler_register(EventKind.ORDER_PAID, handlers.on_order_paid)
        event_handler_register(EventKind.ORDER_REFUNDED, handlers.on_order_refunded)
        event_handler_register(MEMBER_ERASED, handlers.on_member_erased)
        member_merge_hook_register(hooks.referrals_merge)
        member_erase_hook_register(hooks.referrals_erase)
        member_data_copy_hook_register(hooks.referrals_data_copy)
        register_referral_fields()
        referral_index_register(referral_index_rows)
        event_label_register(REFERRAL_ATTACHED, _("signed up through a referral"))
