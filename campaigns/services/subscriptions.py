"""Counting mini-program one-time subscriptions (WeChat reports none of this back).

An acceptance reported by the mini-program adds one for (member, template); a touchpoint sent
takes one, exactly once per touchpoint key (SubscriptionSpend.key is unique, so a resend, a
retry or a second worker racing on a reclaimed row spends nothing more); WeChat refusing a
message for reasons that consumed nothing gives it back, once; WeChat answering "no
subscription" (43101) sets the count to zero, since ours was wrong.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import MiniProgramSubscription, SubscriptionSpend
from members.models import Member


@transaction.atomic
def subscriptions_accept(*, member: Member, template_ids: list[str]) -> dict[str, int]:
    """The member accepted one more message of each of ``template_ids``; returns what is left
    for each."""
    for template_id in dict.fromkeys(template_ids):
        row, created = MiniProgramSubscription.objects.select_for_update().get_or_create(
            member=member, template_id=template_id, defaults={"remaining": 1}
        )
        if not created:
            MiniProgramSubscription.objects.filter(pk=row.pk).update(
                remaining=F("remaining") + 1, updated_at=timezone.now()
            )
    return subscriptions_left(member=member, template_ids=template_ids)


def subscriptions_left(*, member: Member, template_ids: list[str] | None = None) -> dict[str, int]:
    """What is left per template (all templates when ``template_ids`` is None)."""
    rows = MiniProgramSubscription.objects.filter(member=member)
    if template_ids is not None:
        rows = rows.filter(template_id__in=template_ids)
    left = dict(rows.values_list("template_id", "remaining"))
    if template_ids is None:
        return left
    return {template_id: left.get(template_id, 0) for template_id in template_ids}


class _NoneLeft(Exception):
    pass


def subscriptions_spend(*, spends: list[tuple[str, int, str]]) -> set[str]:
    """Take one subscription for each (touchpoint key, member id, template id); returns the keys
    that may be sent: spent now, or already spent by an earlier attempt of the same touchpoint.
    Keys whose member has none left are not in it."""
    keys = [key for key, _m, _t in spends]
    spent = dict(SubscriptionSpend.objects.filter(key__in=keys).values_list("key", "refunded"))
    members = {member_id for _k, member_id, _t in spends}
    stocked = set(
        MiniProgramSubscription.objects.filter(member_id__in=members, remaining__gt=0).values_list(
            "member_id", "template_id"
        )
    )
    allowed = {key for key, refunded in spent.items() if not refunded}
    for key, member_id, template_id in spends:
        if key in spent or (member_id, template_id) not in stocked:
            continue
        try:
            with transaction.atomic():
                SubscriptionSpend.objects.create(
                    key=key, member_id=member_id, template_id=template_id
                )
                took = MiniProgramSubscription.objects.filter(
                    member_id=member_id, template_id=template_id, remaining__gt=0
                ).update(remaining=F("remaining") - 1, updated_at=timezone.now())
                if not took:
                    raise _NoneLeft
        except _NoneLeft:
            continue
        except IntegrityError:
            # Another worker spent it for this touchpoint a moment ago (a reclaimed claim).
            if SubscriptionSpend.objects.filter(key=key, refunded=False).exists():
                allowed.add(key)
            continue
        allowed.add(key)
    return allowed


@transaction.atomic
def subscription_refund(*, key: str) -> bool:
    """Give back the subscription touchpoint ``key`` took (once); True if it was given back."""
    spend = SubscriptionSpend.objects.select_for_update().filter(key=key, refunded=False).first()
    if spend is None:
        return False
    SubscriptionSpend.objects.filter(pk=spend.pk).update(refunded=True)
    row, created = MiniProgramSubscription.objects.get_or_create(
        member_id=spend.member_id, template_id=spend.template_id, defaults={"remaining": 1}
    )
    if not created:
        MiniProgramSubscription.objects.filter(pk=row.pk).update(
            remaining=F("remaining") + 1, updated_at=timezone.now()
        )
    return True


def subscription_exhausted(*, member_id: int, template_id: str) -> None:
    """WeChat says the member has no subscription left for the template: believe it."""
    MiniProgramSubscription.objects.filter(member_id=member_id, template_id=template_id).update(
        remaining=0, updated_at=timezone.now()
    )
