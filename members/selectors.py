"""Read queries shared by the API, the admin and tasks. Object-level visibility lives here."""

from __future__ import annotations

from django.db.models import QuerySet

from members.choices import MemberStatus
from members.models import Event, Member, Order
from scrm.api.permissions import is_guide, is_operator
from scrm.api.principals import ApiKeyPrincipal, MemberPrincipal


def members_visible_to(actor) -> QuerySet[Member]:
    """Active members ``actor`` may see: operators and API keys all, a guide their store's,
    a signed-in member only themselves, anyone else nobody."""
    active = Member.objects.filter(status=MemberStatus.ACTIVE)
    if isinstance(actor, MemberPrincipal):
        return active.filter(pk=actor.member_id)
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return active
    if is_guide(actor):
        return active.filter(home_store_id=actor.guide.store_id)
    return Member.objects.none()


def member_should_mask(actor) -> bool:
    """Guides get masked phones and WeChat ids from the server (PIPL, RELIABILITY.md)."""
    return is_guide(actor) and not actor.has_perm("members.view_unmasked_phone")


def member_timeline(*, member: Member) -> QuerySet[Event]:
    """The member's events, newest first."""
    return Event.objects.filter(member=member).order_by("-occurred_at", "-pk")


def orders_visible_to(actor) -> QuerySet[Order]:
    """Orders of the members ``actor`` may see."""
    if isinstance(actor, ApiKeyPrincipal) or is_operator(actor):
        return Order.objects.all()
    return Order.objects.filter(member__in=members_visible_to(actor).values("pk"))
