"""What the channels keep about a member, for erasure, the data copy and merges (members'
hooks, registered in CampaignsConfig.ready)."""

from __future__ import annotations

from django.db.models import Q

from campaigns.models import GuideTask, MiniProgramSubscription, SmsReply, SubscriptionSpend
from members.models import Member


def _sms_replies(ids: list[int]):
    """The opt-out replies of these records: linked to them, or sent from one of their phones
    before the number was known to be theirs (a reply from an unknown number keeps no member)."""
    phones = [p for p in Member.objects.filter(pk__in=ids).values_list("phone", flat=True) if p]
    return SmsReply.objects.filter(Q(member_id__in=ids) | Q(member__isnull=True, phone__in=phones))


def _erase(member: Member, *, merged_ids: list[int]) -> dict:
    from campaigns.services.dispatch import member_touchpoints_stop

    ids = [member.pk, *merged_ids]
    return {
        # Nothing more is sent: planned and waiting contacts go (sent ones stay, anonymous, in
        # the campaign's results).
        "pending_touchpoints": member_touchpoints_stop(member_ids=ids),
        # A guide task holds the message as sent, the member's name in it.
        "guide_tasks": GuideTask.objects.filter(member_id__in=ids).delete()[0],
        "miniprogram_subscriptions": (
            MiniProgramSubscription.objects.filter(member_id__in=ids).delete()[0]
            + SubscriptionSpend.objects.filter(member_id__in=ids).delete()[0]
        ),
        "sms_replies": _sms_replies(ids).delete()[0],
    }


def _data_copy(member: Member, *, merged_ids: list[int]) -> dict:
    from campaigns.models import Touchpoint

    ids = [member.pk, *merged_ids]
    tasks = GuideTask.objects.filter(member_id__in=ids).order_by("pk")
    subscriptions = MiniProgramSubscription.objects.filter(member_id__in=ids).order_by(
        "template_id"
    )
    touchpoints = Touchpoint.objects.filter(member_id__in=ids).order_by("pk")
    return {
        "touchpoints": [
            {"campaign": name, "channel": channel, "state": state, "sent_at": sent_at}
            for name, channel, state, sent_at in touchpoints.values_list(
                "campaign__name", "channel", "state", "sent_at"
            )
        ],
        "guide_tasks": [
            {"message": text, "status": status, "created_at": created, "confirmed_at": confirmed}
            for text, status, created, confirmed in tasks.values_list(
                "text", "status", "created_at", "confirmed_at"
            )
        ],
        "miniprogram_subscriptions": [
            {"template_id": template_id, "left": remaining}
            for template_id, remaining in subscriptions.values_list("template_id", "remaining")
        ],
        "sms_replies": [
            {"reply": content, "received_at": received_at}
            for content, received_at in _sms_replies(ids)
            .order_by("pk")
            .values_list("content", "received_at")
        ],
    }


def _merge(survivor: Member, merged: Member) -> dict:
    """WeChat counts subscriptions per open id. When the survivor takes over the merged
    record's open id (it has none), the merged record's subscriptions come with it; otherwise
    that open id is dropped and so are they (they stay on the tombstone, never used)."""
    if not merged.openid or survivor.openid:
        return {}
    MiniProgramSubscription.objects.filter(member=survivor).delete()
    moved = MiniProgramSubscription.objects.filter(member=merged).update(member=survivor)
    return {"miniprogram_subscriptions": moved}


def register_privacy_hooks() -> None:
    from members.services.members import member_merge_hook_register
    from members.services.privacy import member_data_copy_hook_register, member_erase_hook_register

    member_erase_hook_register(_erase)
    member_data_copy_hook_register(_data_copy)
    member_merge_hook_register(_merge)
