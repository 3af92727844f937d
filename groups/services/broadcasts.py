"""Group broadcasts (群发到客户群): an outbox of one row per (broadcast, group owner), handed to
a sender that another app registers.

groups does not import the campaign engine (DESIGN.md: campaigns sits on top). The engine's
``wecom_group`` channel is plugged in from its AppConfig.ready() with
``group_broadcast_sender_register(sender)``; ``sender(messages)`` takes a list of
BroadcastMessage and returns one BroadcastResult per message, in order. Until a sender is
registered, deliveries wait (``pending``) and nothing is lost.

Claims follow the touchpoint outbox: rows are taken with a conditional UPDATE (and SKIP
LOCKED on PostgreSQL) before the sender is called, a result is written only by the claim that
took the row, and a claim older than CLAIM_TIMEOUT is handed back by the next run.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.choices import DeliveryStatus, GroupStatus
from groups.models import BroadcastDelivery, CommunityGroup, GroupBroadcast

logger = logging.getLogger(__name__)

# WeCom refuses texts over 4000 bytes (add_msg_template).
MAX_TEXT_BYTES = 4000
MAX_GROUPS = 2000
BATCH = 50
MAX_ATTEMPTS = 5
CLAIM_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True)
class BroadcastMessage:
    """One owner's share: ``key`` (unique, safe to give the provider as a dedup key),
    ``sender`` the owner's WeCom user id, ``text``, ``chat_ids`` the owner's groups."""

    key: str
    sender: str
    text: str
    chat_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BroadcastResult:
    """``outcome``: "sent" (``provider_id``: WeCom's msgid), "retry" (a transient error) or
    "failed" (``reason`` says why)."""

    outcome: str
    provider_id: str = ""
    reason: str = ""


BroadcastSender = Callable[[list[BroadcastMessage]], list[BroadcastResult]]
_senders: list[BroadcastSender] = []


def group_broadcast_sender_register(sender: BroadcastSender) -> None:
    """Register the function that sends broadcasts (the campaign engine's group channel);
    the last one registered is used."""
    if sender in _senders:
        _senders.remove(sender)
    _senders.append(sender)


def group_broadcast_sender() -> BroadcastSender | None:
    return _senders[-1] if _senders else None


def _skip_reason(group: CommunityGroup) -> str:
    if group.status == GroupStatus.DISSOLVED:
        return "dissolved"
    if not group.wecom_chat_id:
        return "no_chat_id"
    owner = group.owner
    if owner is None or not owner.is_active or not owner.wecom_userid:
        return "no_owner"
    return ""


def broadcast_plan(*, groups: QuerySet[CommunityGroup]):
    """Who gets what: (groups chosen, {owner id: [chat ids]}, {owner id: guide}, skipped).
    ValidationError on ``groups`` when none can be sent to (the admin form asks this too)."""
    chosen = list(groups.select_related("owner").order_by("pk")[: MAX_GROUPS + 1])
    if not chosen:
        raise ValidationError({"groups": [_("Choose at least one group.")]})
    if len(chosen) > MAX_GROUPS:
        raise ValidationError({"groups": [_("At most %(n)d groups.") % {"n": MAX_GROUPS}]})
    by_owner: dict[int, list[str]] = defaultdict(list)
    owners = {}
    skipped = []
    for group in chosen:  # groups, not members: a few hundred at most
        reason = _skip_reason(group)
        if reason:
            skipped.append({"group_id": group.pk, "reason": reason})
        else:
            by_owner[group.owner_id].append(group.wecom_chat_id)
            owners[group.owner_id] = group.owner
    if not by_owner:
        raise ValidationError(
            {
                "groups": [
                    _(
                        "None of these groups can be sent to: each needs a WeCom chat id "
                        "and an active owner with a WeCom user id."
                    )
                ]
            }
        )
    return chosen, by_owner, owners, skipped


@transaction.atomic
def group_broadcast_create(
    *, text: str, groups: QuerySet[CommunityGroup], actor=None
) -> GroupBroadcast:
    """Queue ``text`` for ``groups``: one delivery per group owner with their groups' chat ids.
    Groups without a WeCom chat id, without an active owner with a WeCom user id, or dissolved
    are left out (listed in ``skipped``); if none is left, nothing is written (400)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": [_("A text is required.")]})
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise ValidationError(
            {"text": [_("At most %(n)d bytes (WeCom's limit).") % {"n": MAX_TEXT_BYTES}]}
        )
    chosen, by_owner, owners, skipped = broadcast_plan(groups=groups)
    broadcast = GroupBroadcast.objects.create(
        text=text,
        group_ids=[g.pk for g in chosen],
        skipped=skipped,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    now = timezone.now()
    BroadcastDelivery.objects.bulk_create(
        [
            BroadcastDelivery(
                key=f"group-broadcast:{broadcast.pk}:{owner_id}",
                broadcast=broadcast,
                owner=owners[owner_id],
                sender=owners[owner_id].wecom_userid,
                chat_ids=chat_ids,
                send_after=now,
            )
            for owner_id, chat_ids in by_owner.items()
        ]
    )
    from groups.tasks import broadcasts_dispatch

    transaction.on_commit(broadcasts_dispatch.delay)
    return broadcast


def _claim(*, now: datetime, batch: int) -> tuple[str, list[BroadcastDelivery]]:
    due = Q(status=DeliveryStatus.PENDING, send_after__lte=now) | Q(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    with transaction.atomic():
        claimable = BroadcastDelivery.objects.filter(due).order_by("pk")
        if connection.vendor == "postgresql":
            claimable = claimable.select_for_update(skip_locked=True)
        ids = list(claimable.values_list("pk", flat=True)[:batch])
        token = secrets.token_hex(16)
        BroadcastDelivery.objects.filter(due, pk__in=ids).update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            claim=token,
            attempts=F("attempts") + 1,
        )
    rows = BroadcastDelivery.objects.filter(pk__in=ids, claim=token).select_related("broadcast")
    return token, list(rows.order_by("pk"))


def broadcasts_dispatch(*, now: datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """Send the due deliveries through the registered sender; returns counts by outcome."""
    sender = group_broadcast_sender()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    if sender is None:
        return counts
    now = now or timezone.now()
    token, rows = _claim(now=now, batch=batch)
    if not rows:
        return counts
    messages = [
        BroadcastMessage(key=r.key, sender=r.sender, text=r.broadcast.text, chat_ids=r.chat_ids)
        for r in rows
    ]
    try:
        results = sender(messages)
    except Exception as exc:  # the provider is down: every row of the batch is retried
        logger.exception("group broadcast sender failed")
        results = [BroadcastResult("retry", reason=str(exc)[:500])] * len(rows)
    for row, result in zip(rows, results, strict=True):
        counts[_record(row, result, token=token, now=now)] += 1
    return counts


def _record(row: BroadcastDelivery, result: BroadcastResult, *, token: str, now: datetime) -> str:
    mine = BroadcastDelivery.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING, claim=token)
    outcome = result.outcome
    if outcome == "retry" and row.attempts >= MAX_ATTEMPTS:
        outcome = "failed"
    if outcome == "sent":
        mine.update(
            status=DeliveryStatus.SENT,
            sent_at=timezone.now(),
            provider_id=result.provider_id[:128],
            error="",
        )
    elif outcome == "retry":
        # Back off 1, 2, 4, 8 … minutes.
        mine.update(
            status=DeliveryStatus.PENDING,
            send_after=now + timedelta(minutes=2 ** (row.attempts - 1)),
            error=result.reason[:500],
        )
    else:
        outcome = "failed"
        mine.update(status=DeliveryStatus.FAILED, error=result.reason[:500])
    return outcome
