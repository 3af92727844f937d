"""Member benefits: the points ledger and coupons."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import CouponStatus, MemberStatus, OrderStatus, PointsKind
from members.events import EventKind, event_record, events_record_bulk, events_record_many
from members.models import Coupon, CouponTemplate, Event, Member, Order, PointsEntry
from members.services.audit import audit_record

# Coupon codes avoid look-alike characters (0/O, 1/I/L) so cashiers can type them.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


def _lock(member: Member) -> Member:
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.status != MemberStatus.ACTIVE:
        raise ValidationError({"member": [_("This member was merged or erased.")]})
    return locked


def _entry(member: Member, *, kind: str, delta: int, reason: str, **extra) -> PointsEntry:
    member.points_balance += delta
    member.save(update_fields=["points_balance", "updated_at"])
    entry = PointsEntry.objects.create(
        member=member,
        kind=kind,
        delta=delta,
        balance_after=member.points_balance,
        reason=reason[:100],
        **extra,
    )
    event_record(
        member=member,
        kind=EventKind.POINTS_CHANGED,
        data={"kind": kind, "delta": delta, "balance": member.points_balance, "reason": reason},
    )
    return entry


@transaction.atomic
def points_earn(
    *, member: Member, points: int, reason: str, order: Order | None = None, valid_days=None
) -> PointsEntry:
    """Credit ``points``; they lapse after ``valid_days`` (settings.SCRM_POINTS_VALID_DAYS)."""
    if not isinstance(points, int) or points <= 0:
        raise ValidationError({"points": [_("Points to earn must be a positive whole number.")]})
    member = _lock(member)
    days = (
        valid_days if valid_days is not None else getattr(settings, "SCRM_POINTS_VALID_DAYS", 365)
    )
    return _entry(
        member,
        kind=PointsKind.EARN,
        delta=points,
        reason=reason,
        order=order,
        remaining=points,
        expires_at=timezone.now() + timedelta(days=days) if days else None,
    )


def _consume(member: Member, points: int) -> None:
    """Take ``points`` from the member's unspent earnings, oldest expiry first."""
    left = points
    lots = (
        PointsEntry.objects.select_for_update()
        .filter(member=member, remaining__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
    )
    for lot in lots:
        take = min(lot.remaining, left)
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        left -= take
        if left == 0:
            break


@transaction.atomic
def points_spend(*, member: Member, points: int, reason: str) -> PointsEntry:
    """Debit ``points``; refused when the balance is short (it never goes below zero)."""
    if not isinstance(points, int) or points <= 0:
        raise ValidationError({"points": [_("Points to spend must be a positive whole number.")]})
    member = _lock(member)
    if member.points_balance < points:
        raise ValidationError(
            {"points": [_("Only %(n)d points available.") % {"n": member.points_balance}]},
            code="insufficient_points",
        )
    _consume(member, points)
    return _entry(member, kind=PointsKind.SPEND, delta=-points, reason=reason)


@transaction.atomic
def points_adjust(*, member: Member, points: int, reason: str) -> PointsEntry:
    """An operator's correction, up or down; a reason is required and the balance stays >= 0."""
    if not reason.strip():
        raise ValidationError({"reason": [_("Say why the points are adjusted.")]})
    if points > 0:
        member = _lock(member)
        return _entry(member, kind=PointsKind.ADJUST, delta=points, reason=reason, remaining=points)
    if points == 0:
        raise ValidationError({"points": [_("Adjust by a non-zero number of points.")]})
    member = _lock(member)
    if member.points_balance < -points:
        raise ValidationError(
            {"points": [_("Only %(n)d points available.") % {"n": member.points_balance}]}
        )
    _consume(member, -points)
    return _entry(member, kind=PointsKind.ADJUST, delta=points, reason=reason)


@dataclass(frozen=True)
class PointsAdjustResult:
    """What points_adjust_bulk did: members adjusted, and members refused for a short balance
    (with the first of their ids, for the operator's message)."""

    adjusted: int
    refused: int
    refused_ids: tuple[int, ...] = ()


# Members per chunk of points_adjust_bulk: each chunk is a handful of queries.
ADJUST_CHUNK = 1000
REFUSED_IDS_KEPT = 20


@transaction.atomic
def points_adjust_bulk(
    *, members: QuerySet[Member], points: int, reason: str, actor=None, chunk: int = ADJUST_CHUNK
) -> PointsAdjustResult:
    """points_adjust for a set of members, set-based: chunks of ids walked by key, each locked,
    updated and logged in bulk. A deduction larger than a member's balance is refused for that
    member (nothing is written for them); the others are adjusted. One audit row records the
    operator's action."""
    if not isinstance(points, int) or isinstance(points, bool):
        raise ValidationError({"points": [_("Points must be a whole number.")]})
    if points == 0:
        raise ValidationError({"points": [_("Adjust by a non-zero number of points.")]})
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the points are adjusted.")]})
    reason = reason.strip()[:100]
    ids = members.filter(status=MemberStatus.ACTIVE).order_by("pk").values_list("pk", flat=True)
    adjusted, refused, refused_ids, last = 0, 0, [], 0
    while True:
        chunk_ids = list(ids.filter(pk__gt=last)[:chunk])
        if not chunk_ids:
            break
        last = chunk_ids[-1]
        locked = list(
            Member.objects.select_for_update()
            .filter(pk__in=chunk_ids, status=MemberStatus.ACTIVE)
            .order_by("pk")
            .only("pk", "points_balance")
        )
        ok = [m for m in locked if m.points_balance + points >= 0]
        short = [m.pk for m in locked if m.points_balance + points < 0]
        refused += len(short)
        refused_ids += short[: max(0, REFUSED_IDS_KEPT - len(refused_ids))]
        if ok:
            _adjust_chunk(ok, points=points, reason=reason)
            adjusted += len(ok)
    if actor is not None:
        audit_record(
            actor=actor,
            action="points.adjust",
            target=_("%(n)d members") % {"n": adjusted},
            data={"points": points, "reason": reason, "adjusted": adjusted, "refused": refused},
        )
    return PointsAdjustResult(adjusted=adjusted, refused=refused, refused_ids=tuple(refused_ids))


def _adjust_chunk(members: list[Member], *, points: int, reason: str) -> None:
    """Adjust locked members whose balance allows it: lots, balances, ledger rows, events."""
    ids = [m.pk for m in members]
    if points < 0:
        # Spend the unspent earnings oldest expiry first, as _consume does for one member.
        left = dict.fromkeys(ids, -points)
        lots = (
            PointsEntry.objects.select_for_update()
            .filter(member_id__in=ids, remaining__gt=0)
            .order_by("member_id", F("expires_at").asc(nulls_last=True), "pk")
            .only("pk", "member_id", "remaining")
        )
        spent = []
        for lot in lots:
            take = min(lot.remaining, left[lot.member_id])
            if take:
                lot.remaining -= take
                left[lot.member_id] -= take
                spent.append(lot)
        PointsEntry.objects.bulk_update(spent, ["remaining"], batch_size=1000)
    now = timezone.now()
    Member.objects.filter(pk__in=ids).update(
        points_balance=F("points_balance") + points, updated_at=now
    )
    PointsEntry.objects.bulk_create(
        [
            PointsEntry(
                member_id=m.pk,
                kind=PointsKind.ADJUST,
                delta=points,
                balance_after=m.points_balance + points,
                reason=reason,
                remaining=max(points, 0),
            )
            for m in members
        ],
        batch_size=1000,
    )
    events_record_many(
        events=[
            Event(
                member_id=m.pk,
                kind=EventKind.POINTS_CHANGED,
                data={
                    "kind": PointsKind.ADJUST,
                    "delta": points,
                    "balance": m.points_balance + points,
                    "reason": reason,
                },
                occurred_at=now,
            )
            for m in members
        ],
        now=now,
    )


def points_revoke_for_order(*, order: Order) -> PointsEntry | None:
    """Take back what ``order`` earned, capped at the current balance (never below zero)."""
    earned = sum(
        PointsEntry.objects.filter(order=order, kind=PointsKind.EARN).values_list(
            "delta", flat=True
        )
    )
    if not earned:
        return None
    member = _lock(order.member)
    take = min(earned, member.points_balance)
    if take <= 0:
        return None
    _consume(member, take)
    return _entry(
        member,
        kind=PointsKind.ADJUST,
        delta=-take,
        reason=_("Refund of order %s") % order.external_id,
        order=order,
    )


def points_expire_due(*, now=None, batch: int = 1000) -> int:
    """Expire earned points past their date, a batch of lots per transaction; returns lots done."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            lots = list(
                PointsEntry.objects.select_for_update()
                .filter(remaining__gt=0, expires_at__lte=now)
                .order_by("pk")[:batch]
            )
            if not lots:
                return done
            per_member: dict[int, int] = {}
            for lot in lots:
                per_member[lot.member_id] = per_member.get(lot.member_id, 0) + lot.remaining
            PointsEntry.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
            members = Member.objects.select_for_update().filter(pk__in=per_member).order_by("pk")
            rows = []
            for member in members:
                lapsed = min(per_member[member.pk], member.points_balance)
                if lapsed <= 0:
                    continue
                member.points_balance -= lapsed
                rows.append(
                    PointsEntry(
                        member=member,
                        kind=PointsKind.EXPIRE,
                        delta=-lapsed,
                        balance_after=member.points_balance,
                        reason=_("Points expired"),
                    )
                )
            Member.objects.bulk_update(members, ["points_balance"], batch_size=1000)
            PointsEntry.objects.bulk_create(rows, batch_size=1000)
            done += len(lots)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transaction.atomic
def coupons_issue(
    *, template: CouponTemplate, members: QuerySet[Member], reason: str = "", actor=None
) -> int:
    """Issue one coupon of ``template`` to each member; all or nothing when stock runs short.
    With an ``actor`` (an operator in the admin), the issue is written to the audit log."""
    if not template.is_active:
        raise ValidationError({"template": [_("This coupon template is not active.")]})
    member_ids = list(
        members.filter(status=MemberStatus.ACTIVE).order_by("pk").values_list("pk", flat=True)
    )
    if not member_ids:
        return 0
    wanted = len(member_ids)
    # Reserve stock with one conditional UPDATE: concurrent issues can never oversell.
    stock = CouponTemplate.objects.filter(pk=template.pk)
    if template.total_quantity is not None:
        stock = stock.filter(issued_count__lte=F("total_quantity") - wanted)
    if not stock.update(issued_count=F("issued_count") + wanted):
        raise ValidationError(
            {"template": [_("Not enough coupons left of “%(name)s”.") % {"name": template.name}]},
            code="out_of_stock",
        )
    expires_at = timezone.now() + timedelta(days=template.valid_days)
    for attempt in range(3):
        try:
            with transaction.atomic():
                Coupon.objects.bulk_create(
                    [
                        Coupon(
                            template=template, member_id=pk, code=_new_code(), expires_at=expires_at
                        )
                        for pk in member_ids
                    ],
                    batch_size=2000,
                )
            break
        except IntegrityError:
            if attempt == 2:
                raise
    events_record_bulk(
        member_ids=member_ids,
        kind=EventKind.COUPON_ISSUED,
        data={"template_id": template.pk, "template": template.name, "reason": reason},
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="coupons.issue",
            target=str(template)[:100],
            data={"template_id": template.pk, "issued": wanted, "reason": reason},
        )
    return wanted


def coupons_issue_keyed(*, template: CouponTemplate, members_by_key: dict[str, int]) -> dict:
    """Issue one coupon of ``template`` per key (``{key: member_id}``), idempotently: a key
    that already has its coupon gets that one back, never a second. Returns ``{key: code}``
    for every key served; keys left out when the template's stock ran short (first keys in
    sorted order are served first) or the template is inactive.

    Runs in its own transaction and commits before returning, so a send that follows can
    quote the codes knowing they exist."""
    if not members_by_key:
        return {}
    with transaction.atomic():
        # The template's row lock serialises issuers of one template, so what is read next
        # cannot be inserted meanwhile by another worker sending the same touchpoints.
        locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
        codes = dict(
            Coupon.objects.filter(issue_key__in=list(members_by_key)).values_list(
                "issue_key", "code"
            )
        )
        missing = sorted(key for key in members_by_key if key not in codes)
        if not missing:
            return codes
        if not locked.is_active:
            return codes
        if locked.total_quantity is not None:
            missing = missing[: max(locked.total_quantity - locked.issued_count, 0)]
        if not missing:
            return codes
        expires_at = timezone.now() + timedelta(days=locked.valid_days)
        pending = list(missing)
        for _attempt in range(3):
            # ignore_conflicts: a code collision or a key issued meanwhile leaves the row out;
            # reading back by key tells which, and the loop retries only real collisions.
            Coupon.objects.bulk_create(
                [
                    Coupon(
                        template=locked,
                        member_id=members_by_key[key],
                        code=_new_code(),
                        expires_at=expires_at,
                        issue_key=key,
                    )
                    for key in pending
                ],
                batch_size=2000,
                ignore_conflicts=True,
            )
            found = dict(
                Coupon.objects.filter(issue_key__in=pending).values_list("issue_key", "code")
            )
            codes.update(found)
            pending = [key for key in pending if key not in found]
            if not pending:
                break
        issued = len(missing) - len(pending)
        CouponTemplate.objects.filter(pk=locked.pk).update(issued_count=F("issued_count") + issued)
        events_record_bulk(
            member_ids=[members_by_key[key] for key in missing if key in codes],
            kind=EventKind.COUPON_ISSUED,
            data={"template_id": locked.pk, "template": locked.name, "reason": "campaign"},
        )
    return codes


@transaction.atomic
def coupon_redeem(*, code: str, order: Order) -> Coupon:
    """Redeem a coupon against one paid order of its owner; a coupon and an order pair once."""
    coupon = (
        Coupon.objects.select_for_update()
        .select_related("template")
        .filter(code=(code or "").strip().upper())
        .first()
    )
    if coupon is None:
        raise ValidationError({"code": [_("Unknown coupon code.")]}, code="unknown_coupon")
    errors = None
    if coupon.status != CouponStatus.ISSUED:
        errors = _("This coupon is %(status)s.") % {"status": coupon.get_status_display()}
    elif coupon.expires_at <= timezone.now():
        errors = _("This coupon has expired.")
    elif coupon.member_id != order.member_id:
        errors = _("This coupon belongs to another member.")
    elif order.status != OrderStatus.PAID:
        errors = _("Coupons are redeemed on paid orders only.")
    elif order.paid_amount < coupon.template.threshold:
        errors = _("The order is below the coupon's minimum spend of %(t)s.") % {
            "t": coupon.template.threshold
        }
    elif Coupon.objects.filter(redeemed_order=order).exists():
        errors = _("A coupon was already redeemed on this order.")
    if errors:
        raise ValidationError({"code": [errors]}, code="coupon_not_redeemable")
    coupon.status = CouponStatus.REDEEMED
    coupon.redeemed_order = order
    coupon.redeemed_at = timezone.now()
    coupon.save(update_fields=["status", "redeemed_order", "redeemed_at"])
    event_record(
        member=order.member,
        kind=EventKind.COUPON_REDEEMED,
        data={"coupon": coupon.code, "order_id": order.pk, "value": str(coupon.template.value)},
    )
    return coupon


def coupons_expire_due(*, now=None) -> int:
    """Mark issued coupons past their date as expired, in one UPDATE."""
    now = now or timezone.now()
    return Coupon.objects.filter(Q(status=CouponStatus.ISSUED), Q(expires_at__lte=now)).update(
        status=CouponStatus.EXPIRED
    )
