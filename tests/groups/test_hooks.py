"""What happens to group memberships when members merges or erases a member, and what a
member's data copy says about their groups."""

import pytest

from groups.choices import GroupStatus, LeaveReason
from groups.models import GroupMembership
from groups.services.seats import group_leave
from members.services.members import member_merge
from members.services.privacy import member_data_copy, member_erase

pytestmark = pytest.mark.django_db


def test_a_merge_moves_memberships_to_the_survivor(make_group, make_member, seat):
    shared, only_merged, past = make_group(), make_group(), make_group()
    survivor, merged = make_member(), make_member()
    seat(shared, survivor, merged)
    seat(only_merged, merged)
    seat(past, merged)
    group_leave(member=merged, group=past)
    record = member_merge(survivor=survivor, merged=merged)
    assert record.moved["group_memberships"] == 3
    current = GroupMembership.objects.filter(member=survivor, left_at__isnull=True)
    assert sorted(current.values_list("group_id", flat=True)) == sorted([shared.pk, only_merged.pk])
    assert not GroupMembership.objects.filter(member=merged).exists()
    shared.refresh_from_db()
    assert shared.member_count == 1  # the person is in once
    twice = GroupMembership.objects.get(group=shared, left_reason=LeaveReason.MERGED)
    assert twice.member_id == survivor.pk


def test_a_merge_frees_the_seat_of_a_full_group(make_group, make_member, seat):
    group = make_group(capacity=2)
    survivor, merged = make_member(), make_member()
    seat(group, survivor, merged)
    assert group.status == GroupStatus.FULL
    member_merge(survivor=survivor, merged=merged)
    group.refresh_from_db()
    assert (group.member_count, group.status) == (1, GroupStatus.OPEN)


def test_an_erased_member_leaves_their_groups(make_group, make_member, seat):
    group = make_group()
    member, other = make_member(), make_member()
    seat(group, member, other)
    counts = member_erase(member=member)
    assert counts["group_memberships_ended"] == 1
    group.refresh_from_db()
    assert group.member_count == 1
    stay = GroupMembership.objects.get(member=member)
    assert stay.left_reason == LeaveReason.ERASED


def test_the_data_copy_lists_the_members_groups(make_group, make_member, seat):
    group = make_group(name="宝妈交流群")
    member = make_member()
    seat(group, member)
    copy = member_data_copy(member=member)
    assert [row["group"] for row in copy["groups"]] == ["宝妈交流群"]
    assert copy["groups"][0]["how"] == "guide_invite"
    assert copy["groups"][0]["left_at"] is None
