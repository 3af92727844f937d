"""Celery tasks of the members app: thin wrappers around services."""

from celery import shared_task

from members import events


@shared_task(name="members.events_dispatch")
def events_dispatch(event_ids: list[int]) -> int:
    """Run the registered handlers for a chunk of events."""
    return events.events_dispatch_now(event_ids=event_ids)


@shared_task(name="members.events_redispatch_stale")
def events_redispatch_stale() -> int:
    """Periodic sweep for events whose dispatch message was lost."""
    return events.events_redispatch_stale()


@shared_task(name="members.points_expire_due")
def points_expire_due() -> int:
    """Periodic: expire earned points whose validity has ended."""
    from members.services.benefits import points_expire_due as expire

    return expire()


@shared_task(name="members.coupons_expire_due")
def coupons_expire_due() -> int:
    """Periodic: mark issued coupons past their date as expired."""
    from members.services.benefits import coupons_expire_due as expire

    return expire()
