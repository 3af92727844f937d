"""Group segment fields, registered by the groups app into members' registry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.choices import GroupPurpose
from groups.services.groups import group_create
from groups.services.seats import group_leave
from members.segments import (
    TreeError,
    segment_field_catalogue,
    segment_members,
    tree_explain,
    tree_parse,
)

pytestmark = pytest.mark.django_db


def _ids(tree) -> set[int]:
    return set(segment_members(tree).values_list("pk", flat=True))


def test_fields_are_in_the_catalogue(make_group):
    group = make_group(name="静安VIP群")
    fields = {f["name"]: f for f in segment_field_catalogue()}
    assert {"group", "group_purpose", "group_joined_at", "group_count"} <= set(fields)
    assert {"value": str(group.pk), "label": "静安VIP群"} in fields["group"]["choices"]
    assert {c["value"] for c in fields["group_purpose"]["choices"]} == set(GroupPurpose.values)


def test_in_group_and_not_in_group(make_group, make_member, seat):
    a, b = make_group(), make_group()
    x, y, z = make_member(), make_member(), make_member()
    seat(a, x)
    seat(b, y)
    group_leave(member=y, group=b)
    assert _ids({"field": "group", "op": "in", "value": [a.pk, b.pk]}) == {x.pk}
    assert _ids({"field": "group", "op": "not_in", "value": [a.pk]}) == {y.pk, z.pk}


def test_unknown_group_ids_are_refused(make_group):
    with pytest.raises(TreeError):
        segment_members({"field": "group", "op": "in", "value": [987654]})


def test_in_any_group_of_a_purpose(make_group, make_member, seat):
    vip = make_group(purpose=GroupPurpose.VIP)
    service = make_group(purpose=GroupPurpose.SERVICE)
    x, y = make_member(), make_member()
    seat(vip, x)
    seat(service, y)
    assert _ids({"field": "group_purpose", "op": "in", "value": ["vip"]}) == {x.pk}
    assert _ids({"field": "group_purpose", "op": "not_in", "value": ["vip"]}) == {y.pk}


def test_joined_within_the_last_days(make_group, make_member, seat):
    group = make_group()
    recent, old, never = make_member(), make_member(), make_member()
    seat(group, old, now=timezone.now() - timedelta(days=20))
    seat(group, recent)
    tree = {"field": "group_joined_at", "op": "within_last_days", "value": 7}
    assert _ids(tree) == {recent.pk}
    assert _ids({**tree, "op": "not_within_last_days"}) == {old.pk, never.pk}
    node = tree_parse(tree)
    assert tree_explain(node, language="en") == "joined a group within the last 7 days"
    assert tree_explain(node, language="zh-hans") == "加入社群 在最近 7 天"


def test_number_of_groups_counts_members_in_none_as_zero(make_group, make_member, seat):
    a, b = make_group(), make_group()
    two, one, none = make_member(), make_member(), make_member()
    seat(a, two, one)
    seat(b, two)
    assert _ids({"field": "group_count", "op": "gte", "value": 2}) == {two.pk}
    assert _ids({"field": "group_count", "op": "eq", "value": 0}) == {none.pk}
    assert _ids({"field": "group_count", "op": "lt", "value": 2}) == {one.pk, none.pk}


def test_flash_groups_appear_until_dissolved(make_member, seat):
    group = group_create(
        name="秒杀群",
        purpose=GroupPurpose.FLASH_SALE,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    member = make_member()
    seat(group, member)
    tree = {"field": "group_purpose", "op": "in", "value": ["flash_sale"]}
    assert _ids(tree) == {member.pk}
    from groups.services.groups import group_dissolve

    group_dissolve(group=group)
    assert _ids(tree) == set()
