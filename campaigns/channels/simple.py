"""Channels that need no provider: the console (embedded default) and a no-op (benchmarks)."""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _

from campaigns.channels.base import Channel, Message, Outcome, Result

logger = logging.getLogger("campaigns.console")


class ConsoleChannel(Channel):
    """Writes each message to the log: what `make run` uses, so a campaign can be tried with
    no provider account."""

    code = "console"
    label = _("console (log only)")
    address_column = "id"
    consent = None

    def send(self, message: Message) -> Result:
        logger.info("to member %s: %s %s", message.member_id, message.subject, message.body)
        return Result(Outcome.SENT, provider_id=message.key)


class NoopChannel(Channel):
    """Accepts everything and does nothing: measures the engine without a provider."""

    code = "noop"
    label = _("no-op (benchmarks)")
    address_column = "id"
    consent = None

    def send(self, message: Message) -> Result:
        return Result(Outcome.SENT)

    def send_batch(self, messages: list[Message]) -> list[Result]:
        sent = Result(Outcome.SENT)
        return [sent] * len(messages)
