from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Campaigns, schedules, touchpoints and delivery channels (docs/campaigns.md)."""

    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns.channels import channel_register
        from campaigns.channels.email import EmailChannel
        from campaigns.channels.miniprogram import MiniProgramChannel
        from campaigns.channels.simple import ConsoleChannel, NoopChannel
        from campaigns.channels.sms import SmsChannel
        from campaigns.channels.webhook import WebhookChannel
        from campaigns.channels.wecom import WeComGroupChannel, WeComGuideChannel
        from campaigns.services.channel_privacy import register_privacy_hooks

        for channel in (
            ConsoleChannel(),
            NoopChannel(),
            WebhookChannel(),
            WeComGuideChannel(),
            WeComGroupChannel(),
            MiniProgramChannel(),
            SmsChannel(),
            EmailChannel(),
        ):
            channel_register(channel)
        register_privacy_hooks()

        from campaigns.variables import register_app_variables

        register_app_variables()

        from campaigns.group_sender import register_group_sender

        register_group_sender()

        from campaigns import handlers
        from campaigns.services.enrol import ENTRY_EVENTS
        from members.events import EventKind, event_handler_register

        for kind in [*ENTRY_EVENTS, EventKind.LIFECYCLE_CHANGED]:
            event_handler_register(kind, handlers.on_entry_event)
        event_handler_register(EventKind.ORDER_PAID, handlers.on_order_paid)
        event_handler_register(EventKind.ORDER_REFUNDED, handlers.on_order_refunded)
