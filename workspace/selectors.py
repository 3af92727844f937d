"""What the workspace pages read. Visibility comes from members.selectors (a guide sees their
store's members); every page is a fixed, small number of queries whatever the store's size."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from members.choices import CouponStatus
from members.events import event_label
from members.identity import phone_mask
from members.models import Member, MemberTag, Tag, TagGroup
from members.selectors import (
    member_timeline,
    member_unmasked_by_permission,
    members_search,
    members_visible_to,
)
from members.services.audit import unmasked_view_record

# Rows per page of the customer list, and of each history on a customer's page: a phone screen
# holds a few dozen; "more" walks on by id.
CUSTOMERS_PAGE = 30
HISTORY_ROWS = 10
TIMELINE_ROWS = 20


@dataclass(frozen=True)
class CustomersPage:
    customers: list[Member]
    # The id to pass as ``before`` for the next page; None on the last page.
    next_before: int | None


def customers_page(user, *, term: str = "", mine: bool = False, before: int | None = None):
    """One page of the customers ``user`` (a guide) may see, newest first: searched like the
    admin (name, full phone, last four digits, ids), only their own customers with ``mine``.
    Walks by id (keyset), so the hundredth page costs what the first does."""
    members = members_visible_to(user)
    if mine:
        members = members.filter(guide=user.guide)
    members = members_search(members, term)
    if before is not None:
        members = members.filter(pk__lt=before)
    rows = list(
        members.select_related("tier")
        .prefetch_related(
            Prefetch(
                "member_tags",
                queryset=MemberTag.objects.select_related("tag").order_by("tag__sort", "tag_id"),
                to_attr="tag_rows",
            )
        )
        .order_by("-pk")[: CUSTOMERS_PAGE + 1]
    )
    more = len(rows) > CUSTOMERS_PAGE
    rows = rows[:CUSTOMERS_PAGE]
    _show_phones(user, rows, where="workspace.list")
    return CustomersPage(customers=rows, next_before=rows[-1].pk if more and rows else None)


def customer_for(user, pk: int, *, to_show: bool = True) -> Member:
    """The customer ``pk`` if ``user`` may see them, else 404 (never "forbidden": another
    store's member does not exist for a guide). ``to_show=False`` for a write that shows no
    phone, so no unmasked view is audited."""
    member = get_object_or_404(
        members_visible_to(user).select_related("tier", "guide", "home_store"), pk=pk
    )
    if to_show:
        _show_phones(user, [member], where="workspace.customer")
    return member


@dataclass(frozen=True)
class TagChoice:
    tag: Tag
    on: bool
    # A rule tag is put on and taken off by its rule, not by hand.
    by_rule: bool


def customer_tag_board(member: Member) -> list[tuple[TagGroup, list[TagChoice]]]:
    """Every tag group with its tags, each marked on or off for ``member``: the two-tap tagging
    board (open the customer, tap a tag). Two queries."""
    on = set(MemberTag.objects.filter(member=member).values_list("tag_id", flat=True))
    groups = TagGroup.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("sort", "id"))
    ).order_by("sort", "id")
    board = []
    for group in groups:
        choices = [
            TagChoice(tag=tag, on=tag.pk in on, by_rule=tag.rule is not None)
            for tag in group.tags.all()
        ]
        if choices:
            board.append((group, choices))
    return board


def customer_history(member: Member) -> dict:
    """The customer's latest orders, usable coupons and timeline, a bounded query each."""
    events = list(member_timeline(member=member)[:TIMELINE_ROWS])
    for event in events:
        event.label = event_label(event.kind)
    return {
        "orders": list(member.orders.select_related("store").order_by("-paid_at")[:HISTORY_ROWS]),
        "coupons": list(
            member.coupons.select_related("template")
            .filter(status=CouponStatus.ISSUED, expires_at__gt=timezone.now())
            .order_by("expires_at")[:HISTORY_ROWS]
        ),
        "timeline": events,
    }


def _show_phones(user, members: list[Member], *, where: str) -> None:
    """Set ``phone_shown`` on each member: masked for guides (138****1234), in full for a guide
    holding the unmask permission, which is audited (one row for the page)."""
    unmasked = member_unmasked_by_permission(user)
    for member in members:
        member.phone_shown = (member.phone if unmasked else phone_mask(member.phone)) or ""
    if unmasked:
        unmasked_view_record(actor=user, member_ids=[m.pk for m in members], where=where)
