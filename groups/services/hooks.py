"""What groups do when members merges or erases a member, and what it adds to a member's data
copy. Registered in GroupsConfig.ready(); the merge and erase hooks run inside members'
transaction."""

from __future__ import annotations

from django.utils import timezone

from groups.choices import LeaveReason
from groups.models import CommunityGroup, GroupMembership
from groups.services.seats import groups_recount
from members.models import Member


def _lock_groups_of(member_ids: list[int]) -> list[int]:
    """Lock the groups the members are in now, in id order (joins take the group's row before
    its memberships; so does this)."""
    ids = sorted(
        set(
            GroupMembership.objects.filter(
                member_id__in=member_ids, left_at__isnull=True
            ).values_list("group_id", flat=True)
        )
    )
    list(CommunityGroup.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    return ids


def groups_merge(survivor: Member, merged: Member) -> dict:
    """Move the merged record's memberships (current and past) to the survivor. Where both
    were in the same group, the merged record's seat is given back (the person is in once)."""
    _lock_groups_of([survivor.pk, merged.pk])
    now = timezone.now()
    survivor_groups = GroupMembership.objects.filter(member=survivor, left_at__isnull=True).values(
        "group_id"
    )
    twice = GroupMembership.objects.filter(
        member=merged, left_at__isnull=True, group_id__in=survivor_groups
    )
    freed = list(twice.values_list("group_id", flat=True))
    twice.update(left_at=now, left_reason=LeaveReason.MERGED)
    moved = GroupMembership.objects.filter(member=merged).update(member=survivor)
    groups_recount(group_ids=freed)
    return {"group_memberships": moved}


def groups_erase(member: Member) -> dict:
    """An erased member leaves their groups (seats freed). The rows stay, pointing at the
    erased member's empty record, so the groups' join and leave counts stay whole."""
    group_ids = _lock_groups_of([member.pk])
    ended = GroupMembership.objects.filter(member=member, left_at__isnull=True).update(
        left_at=timezone.now(), left_reason=LeaveReason.ERASED
    )
    groups_recount(group_ids=group_ids)
    return {"group_memberships_ended": ended}


def groups_data_copy(member: Member) -> dict:
    """The member's groups for their data copy: which, since when, how they joined, whether
    and why they left."""
    rows = (
        GroupMembership.objects.filter(member=member)
        .order_by("joined_at", "pk")
        .values("group__name", "group__purpose", "how", "joined_at", "left_at", "left_reason")
    )
    return {
        "groups": [
            {
                "group": row["group__name"],
                "purpose": row["group__purpose"],
                "how": row["how"],
                "joined_at": row["joined_at"],
                "left_at": row["left_at"],
                "left_reason": row["left_reason"],
            }
            for row in rows
        ]
    }
