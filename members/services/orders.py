"""Orders: idempotent upsert by (source, external id), refunds, and members' purchase stats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DecimalField, IntegerField, Max, Min, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import MemberStatus, OrderStatus
from members.events import EventKind, event_record
from members.models import Member, Order, Store

# Fields that identify an order's content: a resend must carry the same values.
CONTENT_FIELDS = ("member_id", "store_id", "paid_amount", "gross_margin", "item_count", "paid_at")


def order_values_clean(
    *, source, external_id, paid_amount, gross_margin, item_count, paid_at, status
) -> dict:
    """Validate and normalise an order's values; raise ValidationError naming every bad field."""
    errors: dict[str, list[str]] = {}
    source = (source or "").strip()
    external_id = (str(external_id) if external_id is not None else "").strip()
    if not source or len(source) > 32:
        errors["source"] = [_("A source of 1 to 32 characters is required.")]
    if not external_id or len(external_id) > 64:
        errors["external_id"] = [_("An external id of 1 to 64 characters is required.")]
    try:
        paid_amount = Decimal(str(paid_amount)).quantize(Decimal("0.01"))
        if paid_amount < 0:
            errors["paid_amount"] = [_("The paid amount cannot be negative.")]
        elif paid_amount >= Decimal("10000000000"):
            errors["paid_amount"] = [_("The paid amount is too large.")]
    except (ArithmeticError, ValueError, TypeError):
        errors["paid_amount"] = [_("Not an amount.")]
    try:
        gross_margin = Decimal(str(gross_margin or 0)).quantize(Decimal("0.01"))
        if abs(gross_margin) >= Decimal("10000000000"):
            errors["gross_margin"] = [_("The gross margin is too large.")]
    except (ArithmeticError, ValueError, TypeError):
        errors["gross_margin"] = [_("Not an amount.")]
    if not isinstance(item_count, int) or item_count < 0:
        errors["item_count"] = [_("The item count must be a whole number, 0 or more.")]
    if not isinstance(paid_at, datetime):
        errors["paid_at"] = [_("Not a date and time.")]
    elif timezone.is_naive(paid_at):
        paid_at = timezone.make_aware(paid_at)
    if not errors and paid_at > timezone.now() + timezone.timedelta(minutes=10):
        errors["paid_at"] = [_("The payment time is in the future.")]
    if status not in OrderStatus.values:
        errors["status"] = [_("Unknown order status “%(v)s”.") % {"v": status}]
    if errors:
        raise ValidationError(errors)
    return {
        "source": source,
        "external_id": external_id,
        "paid_amount": paid_amount,
        "gross_margin": gross_margin,
        "item_count": item_count,
        "paid_at": paid_at,
        "status": status,
    }


@transaction.atomic
def order_upsert(
    *,
    source: str,
    external_id: str,
    member: Member,
    paid_amount,
    paid_at: datetime,
    gross_margin=0,
    item_count: int = 1,
    store: Store | None = None,
    status: str = OrderStatus.PAID,
) -> tuple[Order, bool]:
    """Record an order once. Sending the same order again changes nothing; sending it with
    status "refunded" refunds it; reusing its external id with other content is refused.
    Keeps the member's purchase stats and points in step. Returns (order, created)."""
    values = order_values_clean(
        source=source,
        external_id=external_id,
        paid_amount=paid_amount,
        gross_margin=gross_margin,
        item_count=item_count,
        paid_at=paid_at,
        status=status,
    )
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError({"member": [_("This member was merged or erased.")]})
    existing = (
        Order.objects.select_for_update()
        .filter(source=values["source"], external_id=values["external_id"])
        .first()
    )
    if existing is not None:
        incoming = {
            "member_id": member.pk,
            "store_id": store.pk if store else None,
            "paid_amount": values["paid_amount"],
            "gross_margin": values["gross_margin"],
            "item_count": values["item_count"],
            "paid_at": values["paid_at"],
        }
        differing = [f for f in CONTENT_FIELDS if getattr(existing, f) != incoming[f]]
        if differing:
            raise ValidationError(
                {
                    "external_id": [
                        _("Order %(id)s was already received with different %(fields)s.")
                        % {"id": values["external_id"], "fields": ", ".join(differing)}
                    ]
                },
                code="external_id_reused",
            )
        if existing.status == OrderStatus.PAID and values["status"] == OrderStatus.REFUNDED:
            return order_refund(order=existing), False
        if existing.status == OrderStatus.REFUNDED and values["status"] == OrderStatus.PAID:
            raise ValidationError({"status": [_("A refunded order cannot be paid again.")]})
        return existing, False

    order = Order.objects.create(
        member=member,
        store=store,
        refunded_at=timezone.now() if values["status"] == OrderStatus.REFUNDED else None,
        **values,
    )
    if order.status == OrderStatus.PAID:
        member_stats_refresh(member_ids=[member.pk])
        _earn_points_for(order)
        event_record(
            member=member,
            kind=EventKind.ORDER_PAID,
            data=order_paid_data(order),
            occurred_at=order.paid_at,
        )
    return order, True


@transaction.atomic
def order_refund(*, order: Order) -> Order:
    """Refund a paid order in full: it leaves the purchase stats and its points are taken back
    (as far as the balance allows; the balance never goes below zero)."""
    from members.services.benefits import points_revoke_for_order

    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.REFUNDED:
        return order
    order.status = OrderStatus.REFUNDED
    order.refunded_at = timezone.now()
    order.save(update_fields=["status", "refunded_at", "updated_at"])
    member_stats_refresh(member_ids=[order.member_id])
    points_revoke_for_order(order=order)
    event_record(
        member=order.member,
        kind=EventKind.ORDER_REFUNDED,
        data={
            "order_id": order.pk,
            "external_id": order.external_id,
            "amount": str(order.paid_amount),
        },
    )
    return order


def order_points(order: Order) -> int:
    """The points a paid order earns: int(paid amount × SCRM_POINTS_PER_YUAN). The one rule,
    for order_upsert here and for the bulk order import (members.imports.order_writer)."""
    rate = Decimal(str(getattr(settings, "SCRM_POINTS_PER_YUAN", 1)))
    return int(order.paid_amount * rate)


def order_points_reason(order: Order) -> str:
    """The reason written on the points an order earned."""
    return _("Order %s") % order.external_id


def order_paid_data(order: Order) -> dict:
    """The data of an order's order.paid event."""
    return {
        "order_id": order.pk,
        "external_id": order.external_id,
        "amount": str(order.paid_amount),
        "store_id": order.store_id,
    }


def _earn_points_for(order: Order) -> None:
    from members.services.benefits import points_earn

    points = order_points(order)
    if points > 0:
        points_earn(
            member=order.member, points=points, reason=order_points_reason(order), order=order
        )


def member_stats_refresh(*, member_ids: Iterable[int]) -> int:
    """Recompute first/last purchase, order count, total paid and margin from paid orders, in one
    UPDATE per 1,000 members (correlated subqueries, so members with no orders reset to zero)."""
    ids = list(member_ids)
    paid = Order.objects.filter(member_id=OuterRef("pk"), status=OrderStatus.PAID).order_by()
    stats = paid.values("member_id")
    money = DecimalField(max_digits=14, decimal_places=2)
    updated = 0
    for start in range(0, len(ids), 1000):
        updated += Member.objects.filter(pk__in=ids[start : start + 1000]).update(
            order_count=Coalesce(
                Subquery(stats.annotate(n=Count("pk")).values("n")), 0, output_field=IntegerField()
            ),
            total_paid=Coalesce(
                Subquery(stats.annotate(s=Sum("paid_amount")).values("s")), 0, output_field=money
            ),
            total_margin=Coalesce(
                Subquery(stats.annotate(s=Sum("gross_margin")).values("s")), 0, output_field=money
            ),
            first_purchase_at=Subquery(stats.annotate(t=Min("paid_at")).values("t")),
            last_purchase_at=Subquery(stats.annotate(t=Max("paid_at")).values("t")),
        )
    return updated
