"""Rewards: a referee's first qualifying order, commission on two levels, clawback, review.

Exactly once: a reward row has a unique key per rule and order (or task and member). It is
inserted with ON CONFLICT DO NOTHING in status "new", and only the transaction whose
conditional UPDATE moves it out of "new" writes the points or coupon ledger, in the same
transaction. A retried call, a redelivered event or a second worker finds the key taken (a
concurrent insert waits for the first to commit) and does nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import CouponStatus, MemberStatus, OrderStatus
from members.models import Coupon, Member, Order
from members.services.audit import audit_record
from members.services.benefits import coupons_issue, points_adjust, points_earn
from referrals.choices import ReferralStatus, RewardKind, RewardStatus
from referrals.models import MAX_COMMISSION_LEVELS, Referral, ReferralNode, Reward
from referrals.services.abuse import fingerprints_record, referral_flags

NOTE_MAX = 200


def _message(exc: ValidationError) -> str:
    return "; ".join(exc.messages)[:NOTE_MAX]


def reward_create(
    *,
    key: str,
    kind: str,
    member_id: int,
    points: int = 0,
    coupon_template=None,
    held: bool = False,
    flags: list[str] | None = None,
    **links,
) -> Reward | None:
    """Create the reward ``key`` once and pay it (or hold it for review). Returns the reward
    when this call created it, None when it already existed. Runs in the caller's transaction.
    """
    if not points and coupon_template is None:
        return None
    Reward.objects.bulk_create(
        [
            Reward(
                key=key,
                kind=kind,
                member_id=member_id,
                points=points,
                coupon_template=coupon_template,
                status=RewardStatus.NEW,
                flags=flags or [],
                **links,
            )
        ],
        ignore_conflicts=True,
    )
    target = RewardStatus.HELD if held else RewardStatus.GRANTED
    if not Reward.objects.filter(key=key, status=RewardStatus.NEW).update(status=target):
        return None
    reward = Reward.objects.select_related("coupon_template").get(key=key)
    if not held:
        _pay(reward)
    return reward


def _reason(reward: Reward) -> str:
    return _("Referral reward: %(kind)s") % {"kind": reward.get_kind_display()}


def _pay(reward: Reward) -> None:
    """Write the ledgers for a reward already marked granted; if they refuse (the member was
    merged or erased, the coupon ran out), hold it with the reason instead."""
    try:
        with transaction.atomic():
            if reward.points:
                reward.points_entry = points_earn(
                    member=Member(pk=reward.member_id), points=reward.points, reason=_reason(reward)
                )
            if reward.coupon_template_id:
                reward.coupon = _coupon_issue(reward)
    except ValidationError as exc:
        reward.points_entry = reward.coupon = None
        reward.status = RewardStatus.HELD
        reward.note = _message(exc)
        reward.save(update_fields=["status", "note", "points_entry", "coupon"])
        return
    reward.status = RewardStatus.GRANTED
    reward.granted_at = timezone.now()
    reward.save(update_fields=["status", "granted_at", "points_entry", "coupon"])


def _coupon_issue(reward: Reward) -> Coupon:
    """Issue the reward's coupon through the members' coupon service, and find the row it made
    (the service returns a count): the newest coupon of that template for the member not
    already tied to another reward."""
    before = set(
        Coupon.objects.filter(
            member_id=reward.member_id, template_id=reward.coupon_template_id
        ).values_list("pk", flat=True)
    )
    coupons_issue(
        template=reward.coupon_template,
        members=Member.objects.filter(pk=reward.member_id),
        reason=_reason(reward),
    )
    return (
        Coupon.objects.filter(member_id=reward.member_id, template_id=reward.coupon_template_id)
        .exclude(pk__in=before)
        .order_by("-pk")
        .first()
    )


# --- first qualifying order ------------------------------------------------------------------


def _qualifying_order(referral: Referral) -> Order | None:
    """The referee's earliest paid order inside the window at or above the minimum amount,
    locked, and still paid once locked (a refund of it that was under way has committed).
    Earliest, not the one whose event arrived first: two workers agree on it."""
    minimum = referral.programme.min_order_amount if referral.programme else Decimal("0")
    orders = Order.objects.filter(
        member_id=referral.referee_id,
        status=OrderStatus.PAID,
        paid_amount__gte=minimum,
        paid_at__gte=referral.attached_at,
    )
    if referral.qualify_by is not None:
        orders = orders.filter(paid_at__lte=referral.qualify_by)
    while True:
        candidate = orders.order_by("paid_at", "pk").values_list("pk", flat=True).first()
        if candidate is None:
            return None
        order = Order.objects.select_for_update().get(pk=candidate)
        if order.status == OrderStatus.PAID:
            return order
        # Refunded while we waited for its lock: the next one, if any, qualifies.


def referral_qualify(*, referral: Referral, now: datetime | None = None) -> Order | None:
    """Qualify a pending referral on the referee's first qualifying order, and reward the
    referrer and the referee as its programme says (held if the referral is flagged). Returns
    the qualifying order, or None when there is none (yet) or it already qualified.

    The qualifying order is locked before the referral (the order the refund handler takes
    too), so its refund either waits for these rewards or is seen here."""
    now = now or timezone.now()
    referral = Referral.objects.select_related("programme").get(pk=referral.pk)
    if referral.status != ReferralStatus.PENDING:
        return None
    order = _qualifying_order(referral)
    if order is None:
        return None
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("programme", "referee")
        .get(pk=referral.pk)
    )
    if referral.status != ReferralStatus.PENDING:
        return None
    referral.status = ReferralStatus.QUALIFIED
    referral.qualified_order = order
    referral.qualified_at = now
    # Identities bound since sign-up (a phone, usually) are checked now, before paying.
    fingerprints_record(member=referral.referee)
    referral.flags = sorted({*referral.flags, *referral_flags(referral)})
    referral.save(update_fields=["status", "qualified_order", "qualified_at", "flags"])

    programme = referral.programme
    if programme is not None and programme.is_active:
        links = {"programme": programme, "referral": referral, "order": order}
        common = {"held": referral.held, "flags": referral.flags, **links}
        if referral.referrer_id:
            reward_create(
                key=f"{RewardKind.REFERRER}:{order.pk}",
                kind=RewardKind.REFERRER,
                member_id=referral.referrer_id,
                points=programme.referrer_points,
                coupon_template=programme.referrer_coupon,
                **common,
            )
        reward_create(
            key=f"{RewardKind.REFEREE}:{order.pk}",
            kind=RewardKind.REFEREE,
            member_id=referral.referee_id,
            points=programme.referee_points,
            coupon_template=programme.referee_coupon,
            **common,
        )
    return order


# --- commission -------------------------------------------------------------------------------


def commission_points(amount: Decimal, percent: Decimal) -> int:
    """Points for ``percent`` of ``amount`` at SCRM_POINTS_PER_YUAN, rounded down."""
    rate = Decimal(str(getattr(settings, "SCRM_POINTS_PER_YUAN", 1)))
    return int((amount * percent / 100 * rate).to_integral_value(rounding=ROUND_DOWN))


def commission_for_order(*, order: Order, referral: Referral) -> list[Reward]:
    """Commission on a paid order of a referred buyer: the referrer (level 1) and the
    referrer's referrer (level 2), never further up (MAX_COMMISSION_LEVELS)."""
    programme = referral.programme
    if programme is None or not programme.is_active or order.paid_at < referral.attached_at:
        return []
    node = ReferralNode.objects.filter(pk=order.member_id).first()
    if node is None:
        return []
    upline = list(reversed(node.ancestor_ids))[:MAX_COMMISSION_LEVELS]
    links = dict(Referral.objects.filter(referee_id__in=upline).values_list("referee_id", "flags"))
    cleared = set(
        Referral.objects.filter(referee_id__in=upline, cleared_at__isnull=False).values_list(
            "referee_id", flat=True
        )
    )
    made = []
    held = referral.held
    for level, (beneficiary, percent) in enumerate(
        zip(upline, programme.commission_percents(), strict=False), start=1
    ):
        points = commission_points(order.paid_amount, percent)
        if points > 0:
            kind = RewardKind.COMMISSION_1 if level == 1 else RewardKind.COMMISSION_2
            reward = reward_create(
                key=f"{kind}:{order.pk}",
                kind=kind,
                member_id=beneficiary,
                points=points,
                held=held,
                flags=referral.flags,
                programme=programme,
                referral=referral,
                order=order,
            )
            if reward is not None:
                made.append(reward)
        # The link above this beneficiary is their own referral: flagged, it holds level 2.
        held = held or (bool(links.get(beneficiary)) and beneficiary not in cleared)
    return made


# --- clawback and review ----------------------------------------------------------------------


def referral_claw_back_note(order: Order) -> str:
    return _("Order %(id)s was refunded.") % {"id": order.external_id}


def reward_claw_back(*, reward: Reward, note: str = "") -> Reward:
    """Undo a reward: a granted one gives back its points (as many as the balance still holds:
    it never goes below zero) and voids its coupon if unused; a held one is rejected."""
    reward = Reward.objects.select_for_update().get(pk=reward.pk)
    now = timezone.now()
    if reward.status == RewardStatus.HELD:
        # Rejected by the clawback, not by an operator: clawed_back_at says so (a fission
        # task may pay again when its goal is reached again; an operator's rejection stands).
        reward.status = RewardStatus.REJECTED
        reward.reviewed_at = reward.clawed_back_at = now
        reward.note = (note or reward.note)[:NOTE_MAX]
        reward.save(update_fields=["status", "reviewed_at", "clawed_back_at", "note"])
        return reward
    if reward.status != RewardStatus.GRANTED:
        return reward
    taken = 0
    if reward.points:
        member = Member.objects.filter(pk=reward.member_id, status=MemberStatus.ACTIVE).first()
        if member is not None:
            taken = min(reward.points, member.points_balance)
            if taken:
                points_adjust(member=member, points=-taken, reason=_("Referral reward clawed back"))
    if reward.coupon_id:
        # Members has no single-coupon void service; this is the same conditional UPDATE the
        # members' erasure uses: a coupon already redeemed stays redeemed.
        Coupon.objects.filter(pk=reward.coupon_id, status=CouponStatus.ISSUED).update(
            status=CouponStatus.VOID
        )
    reward.status = RewardStatus.CLAWED_BACK
    reward.clawed_back_at = now
    reward.clawed_points = taken
    reward.note = (note or reward.note)[:NOTE_MAX]
    reward.save(update_fields=["status", "clawed_back_at", "clawed_points", "note"])
    return reward


@transaction.atomic
def reward_approve(*, reward: Reward, actor) -> Reward:
    """An operator releases a held reward: it is paid now (or stays held with the reason)."""
    reward = (
        Reward.objects.select_for_update(of=("self",))
        .select_related("coupon_template")
        .get(pk=reward.pk)
    )
    if reward.status != RewardStatus.HELD:
        raise ValidationError(_("Only held rewards can be approved."), code="not_held")
    reward.status = RewardStatus.GRANTED
    reward.note = ""
    reward.reviewed_by = actor if getattr(actor, "pk", None) else None
    reward.reviewed_at = timezone.now()
    reward.save(update_fields=["status", "note", "reviewed_by", "reviewed_at"])
    _pay(reward)
    audit_record(actor=actor, action="referral_reward.approve", target=f"reward:{reward.pk}")
    return reward


@transaction.atomic
def reward_reject(*, reward: Reward, actor, note: str = "") -> Reward:
    """An operator refuses a held reward: nothing is paid."""
    reward = Reward.objects.select_for_update().get(pk=reward.pk)
    if reward.status != RewardStatus.HELD:
        raise ValidationError(_("Only held rewards can be rejected."), code="not_held")
    reward.status = RewardStatus.REJECTED
    reward.note = (note or "")[:NOTE_MAX]
    reward.reviewed_by = actor if getattr(actor, "pk", None) else None
    reward.reviewed_at = timezone.now()
    reward.save(update_fields=["status", "note", "reviewed_by", "reviewed_at"])
    audit_record(
        actor=actor,
        action="referral_reward.reject",
        target=f"reward:{reward.pk}",
        data={"note": note},
    )
    return reward


@transaction.atomic
def referral_clear_flags(*, referral: Referral, actor) -> int:
    """An operator trusts a flagged referral: later rewards are paid at once, and its rewards
    held now are approved. Returns how many were approved."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    referral.cleared_at = timezone.now()
    referral.cleared_by = actor if getattr(actor, "pk", None) else None
    referral.save(update_fields=["cleared_at", "cleared_by"])
    held = Reward.objects.filter(referral=referral, status=RewardStatus.HELD).order_by("pk")
    approved = 0
    for reward in held:
        reward_approve(reward=reward, actor=actor)
        approved += 1
    audit_record(
        actor=actor,
        action="referral.clear_flags",
        target=f"referral:{referral.pk}",
        data={"flags": referral.flags, "approved": approved},
    )
    return approved
