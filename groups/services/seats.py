"""Seats: joining a group by code or by a guide's invitation, leaving, and the counter that
keeps a group within its capacity.

A seat is taken by one conditional UPDATE (``member_count + n <= capacity`` on an open group
that has not expired). On PostgreSQL the UPDATE locks the row and re-checks its condition
after waiting for a concurrent writer, so two joins racing for the last seat cannot both get
it; on SQLite writers are serialised by IMMEDIATE transactions. A CHECK constraint
(``member_count <= capacity``) backs it in the database.

Lock order, to keep concurrent writers free of deadlocks: member, then join code (a join by
code always takes it: joins of one code take turns), then group, then membership rows.
Nothing takes a code's lock while holding a group's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import selectors
from groups.choices import GroupPurpose, GroupStatus, JoinMethod, LeaveReason
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership, JoinCode
from groups.services.codes import join_code_resolve
from members.choices import MemberStatus
from members.events import event_record, events_record_bulk
from members.models import Guide, Member

# At most this many members are invited into a group by one call (a group's capacity is the
# real bound; this keeps a request small).
MAX_INVITES_PER_CALL = 1000


def seats_take(*, group_id: int, n: int = 1, now: datetime) -> bool:
    """Take ``n`` seats of an open, unexpired group in one statement; False if they are not
    there. The group becomes ``full`` when the last seat goes."""
    updated = (
        CommunityGroup.objects.filter(
            pk=group_id, status=GroupStatus.OPEN, member_count__lte=F("capacity") - n
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .update(
            member_count=F("member_count") + n,
            status=Case(
                When(member_count__gte=F("capacity") - n, then=Value(GroupStatus.FULL)),
                default=Value(GroupStatus.OPEN),
            ),
            updated_at=now,
        )
    )
    return updated == 1


def seats_free(*, group_id: int, n: int = 1, now: datetime) -> None:
    """Give back ``n`` seats; a full group opens again."""
    CommunityGroup.objects.filter(pk=group_id).update(
        member_count=F("member_count") - n,
        status=Case(
            When(status=GroupStatus.FULL, then=Value(GroupStatus.OPEN)), default=F("status")
        ),
        updated_at=now,
    )


def groups_recount(*, group_ids: Iterable[int]) -> int:
    """Set the groups' counters from their current memberships (after a merge or an erasure),
    and their status from the count: two set-based UPDATEs."""
    ids = list(group_ids)
    if not ids:
        return 0
    current = (
        GroupMembership.objects.filter(group=OuterRef("pk"), left_at__isnull=True)
        .order_by()
        .values("group")
        .annotate(n=Count("pk"))
        .values("n")
    )
    CommunityGroup.objects.filter(pk__in=ids).update(member_count=Coalesce(Subquery(current), 0))
    return (
        CommunityGroup.objects.filter(pk__in=ids)
        .exclude(status=GroupStatus.DISSOLVED)
        .update(
            status=Case(
                When(member_count__gte=F("capacity"), then=Value(GroupStatus.FULL)),
                default=Value(GroupStatus.OPEN),
            )
        )
    )


def joined_data(membership: GroupMembership) -> dict:
    data = {
        "group_id": membership.group_id,
        "code_id": membership.code_id,
        "how": membership.how,
        "invited_by": membership.invited_by_id,
    }
    if membership.rule_id:
        data["rule_id"] = membership.rule_id
    return data


def _full(code: str = "full") -> ValidationError:
    return ValidationError({"code": [_("Every group of this code is full.")]}, code=code)


def _lock_active_member(member: Member) -> Member:
    # The lock makes a double tap (two joins of one member at once) end with one seat. (No key
    # update: rows that merely reference the member, its events, need not wait.)
    member = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError({"member": [_("This member was merged or erased.")]})
    return member


def group_open_from_template(*, code: JoinCode, now: datetime) -> CommunityGroup:
    """Open the next group of a full pool from the code's template. The caller holds the
    code's row lock, so two joiners never open two groups for one overflow."""
    if not code.auto_open:
        raise _full()
    live = CommunityGroup.objects.filter(join_code=code).exclude(status=GroupStatus.DISSOLVED)
    if code.max_groups and live.count() >= code.max_groups:
        raise _full()
    expires_at = code.group_expires_at
    if code.group_purpose == GroupPurpose.FLASH_SALE and (expires_at is None or expires_at <= now):
        raise ValidationError({"code": [_("This flash sale has ended.")]}, code="ended")
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"code": [_("This join code's groups have ended.")]}, code="ended")
    pool = CommunityGroup.objects.filter(join_code=code).aggregate(
        n=Count("pk"), top=Max("position")
    )
    number = (pool["n"] or 0) + 1
    template = code.group_name or _("%(name)s %(n)s") % {"name": code.name, "n": "{n}"}
    owner = code.group_owner if code.group_owner_id and code.group_owner.is_active else None
    return CommunityGroup.objects.create(
        name=template.replace("{n}", str(number))[:100],
        purpose=code.group_purpose,
        store=code.store,
        owner=owner,
        capacity=code.group_capacity,
        expires_at=expires_at,
        join_code=code,
        position=(pool["top"] or 0) + 1,
    )


def _seat_in_pool(code: JoinCode, *, now: datetime) -> CommunityGroup:
    """A seat in the first group of the pool with room, opening the next group when all are
    full. The caller holds the code's row lock (joins of one code take turns)."""
    for group_id in list(selectors.pool_with_room(code, now=now).values_list("pk", flat=True)):
        if seats_take(group_id=group_id, now=now):
            return CommunityGroup.objects.get(pk=group_id)
    group = group_open_from_template(code=code, now=now)
    if not seats_take(group_id=group.pk, now=now):
        raise _full()
    group.refresh_from_db()
    return group


@transaction.atomic
def group_join_by_code(
    *, member: Member, code: JoinCode | str, now: datetime | None = None
) -> tuple[GroupMembership, bool]:
    """Seat ``member`` in the first open group with room of the code's pool, opening the next
    group from the code's template when all are full. Returns (membership, joined).

    Idempotent: a member who already has a seat in the pool gets that seat back
    (``joined`` False) and nothing is counted again. Refused with a 400 on ``code`` when the
    code is unknown or inactive, when every group is full and no new one may be opened, or when
    the flash sale has ended. Writes ``group.joined`` in the same transaction."""
    now = now or timezone.now()
    join_code = code if isinstance(code, JoinCode) else join_code_resolve(code)
    if join_code is None or not join_code.is_active:
        raise ValidationError(
            {"code": [_("This join code is unknown or no longer in use.")]}, code="unknown_code"
        )
    member = _lock_active_member(member)
    existing = selectors.pool_membership(member_id=member.pk, code=join_code)
    if existing is not None:
        return existing, False
    # Joins of one code take turns on the code's row (FOR NO KEY UPDATE: memberships that
    # reference the code can still be written meanwhile). Seats are then taken in the lock
    # order member, code, group for everyone, so racing joiners never deadlock, and only one
    # of them opens the next group when the pool is full. A join is a few milliseconds, so a
    # code serves hundreds of joins a second this way.
    join_code = JoinCode.objects.select_for_update(no_key=True).get(pk=join_code.pk)
    group = _seat_in_pool(join_code, now=now)
    membership = GroupMembership.objects.create(
        group=group, member=member, how=JoinMethod.CODE, code=join_code, joined_at=now
    )
    event_record(
        member=member, kind=GroupEventKind.JOINED, data=joined_data(membership), occurred_at=now
    )
    return membership, True


def _lock_live_group(group: CommunityGroup, *, now: datetime) -> CommunityGroup:
    group = CommunityGroup.objects.select_for_update().get(pk=group.pk)
    if group.status == GroupStatus.DISSOLVED:
        raise ValidationError(_("This group has been dissolved."), code="dissolved")
    if group.expires_at is not None and group.expires_at <= now:
        raise ValidationError(_("This group has ended."), code="ended")
    return group


@transaction.atomic
def group_members_add(
    *,
    group: CommunityGroup,
    members: QuerySet[Member],
    invited_by: Guide | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Invite ``members`` (active ones not yet in the group) into ``group``; returns their
    ids. All or nothing: more newcomers than seats left is a 400 and nobody is added."""
    now = now or timezone.now()
    group = _lock_live_group(group, now=now)
    current = GroupMembership.objects.filter(group=group, left_at__isnull=True)
    ids = list(
        members.filter(status=MemberStatus.ACTIVE)
        .exclude(pk__in=current.values("member_id"))
        .order_by("pk")
        .values_list("pk", flat=True)[: MAX_INVITES_PER_CALL + 1]
    )
    if len(ids) > MAX_INVITES_PER_CALL:
        raise ValidationError(
            {"members": [_("At most %(n)d members per call.") % {"n": MAX_INVITES_PER_CALL}]}
        )
    if not ids:
        return []
    left = group.seats_left
    if len(ids) > left:
        raise ValidationError(
            {
                "members": [
                    _("%(want)d new members, but only %(left)d seats are left in this group.")
                    % {"want": len(ids), "left": left}
                ]
            },
            code="full",
        )
    if not seats_take(group_id=group.pk, n=len(ids), now=now):
        raise ValidationError({"members": [_("This group is full.")]}, code="full")
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(
                group=group,
                member_id=pk,
                how=JoinMethod.GUIDE_INVITE,
                invited_by=invited_by,
                joined_at=now,
            )
            for pk in ids
        ]
    )
    events_record_bulk(
        member_ids=ids,
        kind=GroupEventKind.JOINED,
        data={
            "group_id": group.pk,
            "code_id": None,
            "how": JoinMethod.GUIDE_INVITE.value,
            "invited_by": invited_by.pk if invited_by else None,
        },
        occurred_at=now,
    )
    return ids


@transaction.atomic
def group_leave(
    *,
    member: Member,
    group: CommunityGroup,
    reason: str = LeaveReason.LEFT,
    now: datetime | None = None,
) -> GroupMembership | None:
    """End the member's current stay in the group (their seat is free again) and write
    ``group.left``. Idempotent: None when they are not in it (or the group was dissolved)."""
    now = now or timezone.now()
    current = GroupMembership.objects.filter(group=group, member=member, left_at__isnull=True)
    if not current.exists():
        return None
    # The group's row first, as joins and the dissolution take it.
    CommunityGroup.objects.select_for_update().filter(pk=group.pk).first()
    membership = current.select_for_update().first()
    if membership is None:
        return None
    membership.left_at, membership.left_reason = now, reason
    membership.save(update_fields=["left_at", "left_reason"])
    seats_free(group_id=membership.group_id, now=now)
    event_record(
        member=member,
        kind=GroupEventKind.LEFT,
        data={
            "group_id": membership.group_id,
            "code_id": membership.code_id,
            "how": membership.how,
            "reason": reason,
        },
        occurred_at=now,
    )
    return membership
