"""Writing many events of different kinds and data at once.

members.events.events_record_bulk writes one kind with one payload for many members; imports
need a payload per event (order ids, amounts). This does the same dispatching: kinds nobody
listens to are marked dispatched, the others are handed to Celery in chunks after commit.
"""

from __future__ import annotations

from django.db import transaction

from members.events import DISPATCH_CHUNK, event_handlers
from members.models import Event


def events_write(events: list[Event], *, now) -> None:
    """Bulk-insert events of several kinds and data, dispatched as members.events does:
    kinds nobody listens to are marked dispatched, the others are enqueued after commit."""
    from members.tasks import events_dispatch

    listened = {kind for kind in {e.kind for e in events} if event_handlers(kind)}
    for event in events:
        event.dispatched_at = None if event.kind in listened else now
    created = Event.objects.bulk_create(events, batch_size=2000)
    ids = [event.pk for event in created if event.kind in listened]
    if not ids or None in ids:  # without RETURNING, the periodic sweep dispatches them
        return
    for start in range(0, len(ids), DISPATCH_CHUNK):
        chunk = ids[start : start + DISPATCH_CHUNK]
        transaction.on_commit(lambda chunk=chunk: events_dispatch.delay(chunk))
