"""Writing many new orders at once, with the side effects order_upsert has for each of them.

For every new paid order, order_upsert refreshes the member's purchase stats, credits points
(members.services.orders.order_points, valid SCRM_POINTS_VALID_DAYS) with a points.changed
event, and records an order.paid event. Here the same happens, by the same rules
(order_points, order_points_reason, order_paid_data), with a handful of statements per batch
instead of a dozen per order;
tests/members/test_import_orders.py checks the outcome against order_upsert row by row.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from members.choices import OrderStatus, PointsKind
from members.events import EventKind, events_record_many
from members.imports.sql import rows_update
from members.models import Event, Member, Order, PointsEntry, Store
from members.services.orders import (
    member_stats_refresh,
    order_paid_data,
    order_points,
    order_points_reason,
)


def orders_write_new(*, rows: list[tuple[Member, Store | None, dict]]) -> list[Order]:
    """Insert orders known not to exist yet (values cleaned as order_upsert cleans them), then
    refresh stats, credit points and record events for the paid ones. Call inside a
    transaction; raises IntegrityError if one of the orders appeared meanwhile."""
    now = timezone.now()
    orders = Order.objects.bulk_create(
        [
            Order(
                member_id=member.pk,
                store=store,
                refunded_at=now if values["status"] == OrderStatus.REFUNDED else None,
                **values,
            )
            for member, store, values in rows
        ],
        batch_size=1000,
    )
    paid = [order for order in orders if order.status == OrderStatus.PAID]
    if not paid:
        return orders
    member_ids = sorted({order.member_id for order in paid})
    member_stats_refresh(member_ids=member_ids)
    _earn_points(paid, member_ids=member_ids, now=now)
    return orders


def _earn_points(paid: list[Order], *, member_ids: list[int], now) -> None:
    days = getattr(settings, "SCRM_POINTS_VALID_DAYS", 365)
    expires_at = now + timedelta(days=days) if days else None
    # Locked in id order, like any other writer of balances, so two imports cannot deadlock.
    members = {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=member_ids)
        .order_by("pk")
        .only("pk", "points_balance", "updated_at")
    }
    entries, events, credited = [], [], set()
    for order in paid:  # file order, so running balances match a row-by-row import
        member = members[order.member_id]
        points = order_points(order)
        if points > 0:
            member.points_balance += points
            credited.add(member.pk)
            reason = order_points_reason(order)
            entries.append(
                PointsEntry(
                    member_id=member.pk,
                    kind=PointsKind.EARN,
                    delta=points,
                    balance_after=member.points_balance,
                    reason=reason[:100],
                    order=order,
                    remaining=points,
                    expires_at=expires_at,
                )
            )
            events.append(
                Event(
                    member_id=member.pk,
                    kind=EventKind.POINTS_CHANGED,
                    data={
                        "kind": PointsKind.EARN,
                        "delta": points,
                        "balance": member.points_balance,
                        "reason": reason,
                    },
                    occurred_at=now,
                )
            )
        events.append(
            Event(
                member_id=member.pk,
                kind=EventKind.ORDER_PAID,
                data=order_paid_data(order),
                occurred_at=order.paid_at,
            )
        )
    PointsEntry.objects.bulk_create(entries, batch_size=1000)
    changed = [members[pk] for pk in sorted(credited)]
    for member in changed:
        member.updated_at = now
    rows_update(Member, changed, ["points_balance", "updated_at"])
    events_record_many(events=events, now=now)
