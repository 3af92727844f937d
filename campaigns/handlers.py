"""How the campaign engine reacts to members' facts (registered in CampaignsConfig.ready).

Handlers run in a Celery worker after the fact's transaction committed and may run twice (a
redelivered task): enrolment is keyed, exits and attribution are conditional updates.
"""

from __future__ import annotations

from campaigns.services.attribution import order_attribute, order_unattribute
from campaigns.services.enrol import on_entry_event, on_order_paid_exit
from members.models import Event


def on_order_paid(event: Event) -> None:
    """An order ends the journeys it should and is credited to its last touch."""
    on_order_paid_exit(event)
    order_id = (event.data or {}).get("order_id")
    if order_id:
        order_attribute(order_id=order_id)


def on_order_refunded(event: Event) -> None:
    order_id = (event.data or {}).get("order_id")
    if order_id:
        order_unattribute(order_id=order_id)


__all__ = ["on_entry_event", "on_order_paid", "on_order_refunded"]
