"""Event-triggered campaigns: journeys and lifecycle-stage campaigns enrol a member when the
event that starts them is recorded, and journeys let members leave when they buy.

An entry writes every step's touchpoint at once, each due ``delay_days`` after the event, so
the outbox holds the whole journey and the dispatcher sends each step when it falls due. Keys
make entry idempotent (a redelivered event enrols nobody twice):

    j<campaign>:s<step>:m<member>   a member goes through the journey once
    j<campaign>:s<step>:e<event>    ``reenter``: each event starts it again

Holdout and A/B arms come from the same member hash the fan-out uses, so a member sits in the
same arm whether they arrive by an event or by a scheduled run. Step 0 touchpoints that are
due at once are handed to the priority queue after commit (a welcome message goes out within
seconds, not behind a running mass campaign).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    SkipReason,
    Step,
    Touchpoint,
    TouchpointState,
    Variant,
)
from campaigns.services.schedule import bucket
from members.choices import MemberStatus
from members.events import EventKind
from members.models import Event, Member
from members.segments import segment_members

# Event kinds a journey may start on, with what operators see. Kinds of other apps are named
# here as strings: campaigns sits above them (DESIGN.md) but only needs their names.
ENTRY_EVENTS: dict[str, str] = {
    EventKind.MEMBER_CREATED: _("became a member"),
    EventKind.ORDER_PAID: _("paid an order"),
    EventKind.TAGGED: _("was tagged"),
    EventKind.GUIDE_ASSIGNED: _("got a shop guide"),
    EventKind.COUPON_ISSUED: _("received a coupon"),
    "referral.attached": _("signed up through a referral"),
    "group.joined": _("joined a community group"),
    "group.left": _("left a community group"),
    "group.dissolving": _("is in a flash group about to close"),
    "group.dissolved": _("was in a group that closed"),
}

# Variant buckets use another salt than holdout buckets (as in the fan-out).
VARIANT_SALT_OFFSET = 1_000_000


def entry_matches(campaign: Campaign, data: dict) -> bool:
    """Whether an event's data carries every key and value of the campaign's entry condition
    (numbers and their text compare equal: {"group_id": 12} matches "12")."""
    for key, wanted in (campaign.entry_match or {}).items():
        if key not in data or str(data[key]) != str(wanted):
            return False
    return True


def _in_holdout(campaign: Campaign, member_id: int) -> bool:
    global_percent = settings.SCRM_GLOBAL_HOLDOUT_PERCENT
    if global_percent and bucket(member_id, 0, 10000) < int(global_percent * 100):
        return True
    return bool(
        campaign.holdout_percent
        and bucket(member_id, campaign.pk, 10000) < int(campaign.holdout_percent) * 100
    )


def _variant_for(variants: list[Variant], campaign: Campaign, member_id: int) -> Variant:
    slot = bucket(member_id, campaign.pk + VARIANT_SALT_OFFSET, 100)
    upper = 0
    for variant in variants[:-1]:
        upper += variant.weight
        if slot < upper:
            return variant
    return variants[-1]


def _entering(event: Event) -> list[Campaign]:
    """Running campaigns that ``event`` starts for its member."""
    if event.kind == EventKind.LIFECYCLE_CHANGED:
        stage = (event.data or {}).get("to")
        campaigns = Campaign.objects.filter(
            kind=CampaignKind.LIFECYCLE, status=CampaignStatus.RUNNING, lifecycle_stage=stage
        )
    else:
        campaigns = Campaign.objects.filter(
            kind=CampaignKind.JOURNEY, status=CampaignStatus.RUNNING, entry_event=event.kind
        )
    at = event.occurred_at
    return [
        c
        for c in campaigns.select_related("segment")
        if (c.starts_at is None or c.starts_at <= at)
        and (c.ends_at is None or at < c.ends_at)
        and entry_matches(c, event.data or {})
    ]


def journey_enrol(*, campaign: Campaign, member_id: int, event: Event) -> list[int]:
    """Enter ``member_id`` into ``campaign`` because of ``event``: one touchpoint per step,
    none twice. Returns the ids of the touchpoints due now and still to send."""
    if campaign.segment_id and not (
        segment_members(campaign.segment.tree, now=event.occurred_at).filter(pk=member_id).exists()
    ):
        return []
    steps = list(Step.objects.filter(campaign=campaign).order_by("position"))
    variants = list(Variant.objects.filter(campaign=campaign).order_by("code"))
    if not steps or not variants:
        return []
    variant = _variant_for(variants, campaign, member_id)
    held_out = _in_holdout(campaign, member_id)
    tag = f"e{event.pk}" if campaign.reenter else f"m{member_id}"
    rows = [
        Touchpoint(
            key=f"j{campaign.pk}:s{step.pk}:{tag}",
            campaign=campaign,
            step=step,
            variant=variant,
            member_id=member_id,
            channel=campaign.channel,
            state=TouchpointState.SKIPPED if held_out else TouchpointState.PENDING,
            skip_reason=SkipReason.HOLDOUT if held_out else "",
            send_after=event.occurred_at + timedelta(days=step.delay_days),
        )
        for step in steps
    ]
    Touchpoint.objects.bulk_create(rows, ignore_conflicts=True)
    now = timezone.now()
    return list(
        Touchpoint.objects.filter(
            key__in=[row.key for row in rows],
            state=TouchpointState.PENDING,
            send_after__lte=now,
        ).values_list("pk", flat=True)
    )


def on_entry_event(event: Event) -> None:
    """Event handler: enrol the event's member in every running journey (or lifecycle
    campaign) the event starts, and send what is due at once through the priority queue."""
    if not Member.objects.filter(pk=event.member_id, status=MemberStatus.ACTIVE).exists():
        return
    due: list[int] = []
    for campaign in _entering(event):
        due.extend(journey_enrol(campaign=campaign, member_id=event.member_id, event=event))
    if due:
        from campaigns.tasks import send_now

        transaction.on_commit(
            lambda: send_now.apply_async((due,), queue=settings.SCRM_PRIORITY_QUEUE)
        )


def on_order_paid_exit(event: Event) -> int:
    """Event handler: a member who buys leaves the journeys (and repurchase, birthday and
    lifecycle campaigns) that say so; their later steps are skipped as "left the journey".
    Only entries made before the order count (a step's entry is its due time less its delay):
    a journey that this same order started keeps its steps, and an old order imported late
    does not end a journey begun after it."""
    paid_at: datetime = event.occurred_at
    waiting = Touchpoint.objects.filter(
        member_id=event.member_id,
        state__in=[TouchpointState.PENDING, TouchpointState.DEFERRED],
        campaign__exit_on_order=True,
        campaign__kind__in=[
            CampaignKind.JOURNEY,
            CampaignKind.LIFECYCLE,
            CampaignKind.REPURCHASE,
            CampaignKind.BIRTHDAY,
        ],
    ).values_list("pk", "send_after", "step__delay_days")
    leaving = [pk for pk, due, delay in waiting if due - timedelta(days=delay) < paid_at]
    if not leaving:
        return 0
    return Touchpoint.objects.filter(
        pk__in=leaving, state__in=[TouchpointState.PENDING, TouchpointState.DEFERRED]
    ).update(state=TouchpointState.SKIPPED, skip_reason=SkipReason.EXITED)
