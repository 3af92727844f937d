"""The campaign engine's side of group broadcasts (群发到客户群): the groups app keeps the
outbox of broadcasts per group owner; it sends them through the sender registered here, which
is the ``wecom_group`` channel with its shared rate limit (docs/groups.md, docs/channels.md).

groups never imports campaigns (DESIGN.md), so the channel is plugged in from
CampaignsConfig.ready() with groups.services.broadcasts.group_broadcast_sender_register.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from campaigns import ratelimit
from campaigns.channels import Message, Outcome, channel_get
from campaigns.services.dispatch import send_paced

_OUTCOMES = {Outcome.SENT: "sent", Outcome.RETRY: "retry"}
PACING_SECONDS = 30


def group_broadcasts_send(messages):
    """Send groups' BroadcastMessages through the WeCom customer-group channel; one
    BroadcastResult per message, in order. Without WeCom configured (the embedded default)
    each fails with that reason instead of waiting forever."""
    from groups.services.broadcasts import BroadcastResult

    channel = channel_get("wecom_group")
    if channel is None or not channel.is_configured():
        reason = _(
            "WeCom is not configured on this server (SCRM_WECOM_CORP_ID, SCRM_WECOM_SECRET)."
        )
        return [BroadcastResult("failed", reason=reason) for _m in messages]
    messages_out = [
        Message(
            key=m.key,
            member_id=0,
            address=m.sender,
            subject="",
            body=m.text,
            options={"chat_ids": list(m.chat_ids)},
        )
        for m in messages
    ]
    # Paced by the channel's shared rate limit, waiting at most PACING_SECONDS: what has not
    # started by then is retried on the next run (nothing is dropped).
    results = send_paced(channel, messages_out, ratelimit.clock() + PACING_SECONDS)
    return [
        BroadcastResult("retry", reason=_("Rate limit reached."))
        if result is None
        else BroadcastResult(
            _OUTCOMES.get(result.outcome, "failed"),
            provider_id=result.provider_id,
            reason=result.reason,
        )
        for result in results
    ]


def register_group_sender() -> None:
    """Plug the sender into the groups app (from CampaignsConfig.ready())."""
    from groups.services.broadcasts import group_broadcast_sender_register

    group_broadcast_sender_register(group_broadcasts_send)
