"""Delivery channels: a registry of adapters behind one interface (campaigns.channels.base)."""

from __future__ import annotations

from campaigns.channels.base import Channel, Message, Outcome, Result

_channels: dict[str, Channel] = {}


def channel_register(channel: Channel) -> None:
    """Make ``channel`` selectable by campaigns (adapters register in CampaignsConfig.ready)."""
    _channels[channel.code] = channel


def channel_get(code: str) -> Channel | None:
    """The adapter for ``code``, or None."""
    return _channels.get(code)


def channels() -> list[Channel]:
    """Every registered channel."""
    return list(_channels.values())


__all__ = [
    "Channel",
    "Message",
    "Outcome",
    "Result",
    "channel_get",
    "channel_register",
    "channels",
]
