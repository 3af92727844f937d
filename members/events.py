"""The member event log: record facts, and hand them to the handlers other apps register.

An event is written in the same transaction as the fact it describes. Handlers run in a Celery
worker after commit; an event kind with no handler is marked dispatched at once, so facts nobody
listens to cost no broker traffic. Handlers must be idempotent: a redelivered task runs them again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Event, Member

logger = logging.getLogger(__name__)

EventHandler = Callable[[Event], None]
_handlers: dict[str, list[EventHandler]] = defaultdict(list)

# Events are dispatched by chunks of ids, one Celery message per chunk (not one per member).
DISPATCH_CHUNK = 500


class EventKind:
    """Event kinds written by the members app."""

    MEMBER_CREATED = "member.created"
    MEMBER_UPDATED = "member.updated"
    MEMBER_MERGED = "member.merged"
    TAGGED = "member.tagged"
    UNTAGGED = "member.untagged"
    GUIDE_ASSIGNED = "member.guide_assigned"
    # Written by the nightly metrics refresh; data {"from": old stage, "to": new stage}.
    LIFECYCLE_CHANGED = "member.lifecycle_changed"
    CONSENT_CHANGED = "consent.changed"
    ORDER_PAID = "order.paid"
    ORDER_REFUNDED = "order.refunded"
    POINTS_CHANGED = "points.changed"
    COUPON_ISSUED = "coupon.issued"
    COUPON_REDEEMED = "coupon.redeemed"


# What the member's timeline calls each kind (admin member page, guide workspace); kinds from
# other apps show as they are named.
EVENT_LABELS = {
    EventKind.MEMBER_CREATED: _("joined"),
    EventKind.MEMBER_UPDATED: _("profile changed"),
    EventKind.MEMBER_MERGED: _("merged with another member"),
    EventKind.TAGGED: _("tagged"),
    EventKind.UNTAGGED: _("tag removed"),
    EventKind.GUIDE_ASSIGNED: _("guide assigned"),
    EventKind.LIFECYCLE_CHANGED: _("lifecycle stage changed"),
    EventKind.CONSENT_CHANGED: _("consent changed"),
    EventKind.ORDER_PAID: _("order paid"),
    EventKind.ORDER_REFUNDED: _("order refunded"),
    EventKind.POINTS_CHANGED: _("points changed"),
    EventKind.COUPON_ISSUED: _("coupon issued"),
    EventKind.COUPON_REDEEMED: _("coupon redeemed"),
}


def event_label_register(kind: str, label) -> None:
    """Name another app's event kind on the timeline (called from its AppConfig.ready(), as
    members imports no other app); ``label`` is a lazy translation."""
    EVENT_LABELS[kind] = label


def event_label(kind: str) -> str:
    """A timeline's name for an event kind, translated; the kind itself when it has none."""
    return EVENT_LABELS.get(kind, kind)


def event_handler_register(kind: str, handler: EventHandler) -> None:
    """Register ``handler`` for events of ``kind``; call it from an AppConfig.ready()."""
    if handler not in _handlers[kind]:
        _handlers[kind].append(handler)


def event_handlers(kind: str) -> list[EventHandler]:
    """The handlers registered for ``kind``."""
    return list(_handlers.get(kind, ()))


def event_record(
    *, member: Member, kind: str, data: dict | None = None, occurred_at: datetime | None = None
) -> Event:
    """Write one event for ``member`` and dispatch it after the surrounding transaction commits."""
    return events_record_bulk(
        member_ids=[member.pk], kind=kind, data=data, occurred_at=occurred_at
    )[0]


def events_record_bulk(
    *,
    member_ids: Iterable[int],
    kind: str,
    data: dict | None = None,
    occurred_at: datetime | None = None,
) -> list[Event]:
    """Write the same event for many members in bulk, and dispatch them in chunks after commit."""
    now = timezone.now()
    rows = [
        Event(member_id=member_id, kind=kind, data=data or {}, occurred_at=occurred_at or now)
        for member_id in member_ids
    ]
    return events_record_many(events=rows, now=now)


def events_record_many(*, events: list[Event], now: datetime | None = None) -> list[Event]:
    """Bulk-insert unsaved events of any kinds and data (imports give each its own payload).
    Kinds nobody listens to are marked dispatched at once; the rest go to Celery after commit."""
    now = now or timezone.now()
    listened = {kind for kind in {e.kind for e in events} if _handlers.get(kind)}
    for event in events:
        event.dispatched_at = None if event.kind in listened else now
    created = Event.objects.bulk_create(events, batch_size=2000)
    ids = [event.pk for event in created if event.kind in listened]
    if ids and None not in ids:  # without RETURNING, the periodic sweep dispatches them
        _enqueue_on_commit(ids)
    return created


def events_dispatch_on_commit(*, event_ids: list[int]) -> None:
    """Hand events inserted by set-based SQL (``INSERT ... SELECT ... RETURNING id``, with
    ``dispatched_at`` NULL) to Celery after commit, as events_record_many does."""
    _enqueue_on_commit(list(event_ids))


def _enqueue_on_commit(event_ids: list[int]) -> None:
    from members.tasks import events_dispatch

    for start in range(0, len(event_ids), DISPATCH_CHUNK):
        chunk = event_ids[start : start + DISPATCH_CHUNK]
        transaction.on_commit(lambda chunk=chunk: events_dispatch.delay(chunk))


def events_dispatch_now(*, event_ids: list[int]) -> int:
    """Run the handlers of the given undispatched events and mark them; returns how many ran.

    Each event is claimed with a conditional UPDATE, so two workers given the same ids never
    both run its handlers to completion and mark it.
    """
    done = 0
    for event in Event.objects.filter(pk__in=event_ids, dispatched_at__isnull=True).order_by("pk"):
        with transaction.atomic():
            for handler in event_handlers(event.kind):
                handler(event)
            claimed = Event.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(
                dispatched_at=timezone.now()
            )
            if not claimed:
                transaction.set_rollback(True)
                continue
        done += 1
    return done


def events_redispatch_stale(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Re-enqueue events still undispatched ``older_than`` after they were written (a lost
    message, a crash). By the time written, not the time the fact occurred: an order paid last
    week and pushed now has its message on the way already."""
    cutoff = timezone.now() - older_than
    ids = list(
        Event.objects.filter(dispatched_at__isnull=True, recorded_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:50_000]
    )
    if ids:
        logger.info("re-dispatching %d stale events", len(ids))
        _enqueue_on_commit(ids)
    return len(ids)
