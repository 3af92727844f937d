"""Join codes (群活码): each newcomer gets the first open group with room; a full pool opens
its next group from the code's template; joins are counted per code; scanning twice is not a
second join."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from groups.choices import GroupPurpose, GroupStatus, JoinMethod
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership
from groups.selectors import join_codes_with_counts
from groups.services.codes import join_code_create, join_code_resolve, join_link
from groups.services.groups import group_create
from groups.services.seats import group_join_by_code, group_leave
from members.models import Event

pytestmark = pytest.mark.django_db


def _joins(code) -> int:
    return join_codes_with_counts(type(code).objects.filter(pk=code.pk)).get().joins


def test_newcomers_fill_the_first_group_then_the_next(make_code, make_group, make_member):
    code = make_code()
    first = group_create(name="一群", join_code=code, capacity=2)
    second = group_create(name="二群", join_code=code, capacity=2)
    seats = [group_join_by_code(member=make_member(), code=code.code)[0] for _ in range(3)]
    assert [m.group_id for m in seats] == [first.pk, first.pk, second.pk]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.member_count, first.status) == (2, GroupStatus.FULL)
    assert (second.member_count, second.status) == (1, GroupStatus.OPEN)
    assert _joins(code) == 3


def test_a_full_pool_opens_the_next_group_from_the_template(make_code, make_member, guide):
    code = make_code(name="静安福利群", group_capacity=2, group_owner=guide)
    members = [make_member() for _ in range(5)]
    groups = [group_join_by_code(member=m, code=code)[0].group for m in members]
    pool = list(CommunityGroup.objects.filter(join_code=code).order_by("position"))
    assert [g.name for g in pool] == ["静安福利群（1）", "静安福利群（2）", "静安福利群（3）"]
    assert [g.member_count for g in pool] == [2, 2, 1]
    assert all(g.owner == guide and g.store == code.store and g.capacity == 2 for g in pool)
    assert [g.pk for g in groups] == [pool[0].pk] * 2 + [pool[1].pk] * 2 + [pool[2].pk]


def test_a_full_group_is_never_returned_and_a_closed_pool_refuses(make_code, make_member):
    code = make_code(auto_open=False)
    group = group_create(name="唯一群", join_code=code, capacity=1)
    group_join_by_code(member=make_member(), code=code)
    with pytest.raises(ValidationError) as exc:
        group_join_by_code(member=make_member(), code=code)
    assert exc.value.message_dict["code"] == ["此活码的群都已满员。"]
    group.refresh_from_db()
    assert group.member_count == 1
    assert _joins(code) == 1


def test_max_groups_stops_opening(make_code, make_member):
    code = make_code(group_capacity=1, max_groups=2)
    group_join_by_code(member=make_member(), code=code)
    group_join_by_code(member=make_member(), code=code)
    with pytest.raises(ValidationError):
        group_join_by_code(member=make_member(), code=code)
    assert CommunityGroup.objects.filter(join_code=code).count() == 2


def test_scanning_again_returns_the_same_seat_and_counts_once(make_code, make_member):
    code = make_code()
    member = make_member()
    first, joined = group_join_by_code(member=member, code=code.code.lower())
    again, joined_again = group_join_by_code(member=member, code=code)
    assert joined and not joined_again
    assert again.pk == first.pk
    assert GroupMembership.objects.filter(member=member).count() == 1
    assert _joins(code) == 1
    assert Event.objects.filter(member=member, kind=GroupEventKind.JOINED).count() == 1


def test_a_join_writes_group_joined_with_group_code_and_how(make_code, make_member):
    code = make_code()
    member = make_member()
    membership, _ = group_join_by_code(member=member, code=code)
    event = Event.objects.get(member=member, kind=GroupEventKind.JOINED)
    assert event.data == {
        "group_id": membership.group_id,
        "code_id": code.pk,
        "how": JoinMethod.CODE,
        "invited_by": None,
    }
    assert event.occurred_at == membership.joined_at


def test_a_refused_join_writes_nothing(make_code, make_member):
    code = make_code(auto_open=False)
    member = make_member()
    with pytest.raises(ValidationError):
        group_join_by_code(member=member, code=code)
    assert not GroupMembership.objects.exists()
    assert not Event.objects.filter(kind=GroupEventKind.JOINED).exists()


def test_unknown_inactive_and_malformed_codes_are_refused(make_code, make_member):
    code = make_code(is_active=False)
    for raw in (code.code, "NOPE22", "", "0OIL1"):
        with pytest.raises(ValidationError) as exc:
            group_join_by_code(member=make_member(), code=raw)
        assert "code" in exc.value.message_dict


def test_after_leaving_the_seat_is_free_and_the_member_may_come_back(make_code, make_member):
    code = make_code(auto_open=False)
    group = group_create(name="群", join_code=code, capacity=1)
    member, other = make_member(), make_member()
    group_join_by_code(member=member, code=code)
    group_leave(member=member, group=group)
    group.refresh_from_db()
    assert (group.member_count, group.status) == (0, GroupStatus.OPEN)
    group_join_by_code(member=other, code=code)
    with pytest.raises(ValidationError):
        group_join_by_code(member=member, code=code)
    assert GroupMembership.objects.filter(member=member).count() == 1
    left = Event.objects.get(member=member, kind=GroupEventKind.LEFT)
    assert left.data == {"group_id": group.pk, "code_id": code.pk, "how": "code", "reason": "left"}


def test_flash_codes_stop_opening_groups_after_the_sale(make_code, make_member):
    end = timezone.now() + timedelta(hours=1)
    code = make_code(group_purpose=GroupPurpose.FLASH_SALE, group_expires_at=end)
    membership, _ = group_join_by_code(member=make_member(), code=code)
    assert membership.group.expires_at == end
    later = end + timedelta(seconds=1)
    with pytest.raises(ValidationError) as exc:
        group_join_by_code(member=make_member(), code=code, now=later)
    assert exc.value.message_dict["code"] == ["本次快闪活动已结束。"]


def test_an_expired_group_takes_nobody_even_before_the_job_dissolves_it(make_code, make_member):
    code = make_code(auto_open=False)
    end = timezone.now() + timedelta(minutes=5)
    group_create(
        name="秒杀群", purpose=GroupPurpose.FLASH_SALE, expires_at=end, join_code=code, capacity=9
    )
    with pytest.raises(ValidationError):
        group_join_by_code(member=make_member(), code=code, now=end)


def test_a_merged_member_cannot_join(make_code, make_member):
    from members.services.members import member_merge

    survivor, merged = make_member(), make_member()
    member_merge(survivor=survivor, merged=merged)
    with pytest.raises(ValidationError) as exc:
        group_join_by_code(member=merged, code=make_code())
    assert "member" in exc.value.message_dict


def test_codes_are_made_readable_and_resolved_in_any_case(store, settings):
    settings.SCRM_GROUP_JOIN_LINK_TEMPLATE = "https://brand.cn/g/{code}"
    code = join_code_create(name="门店群", store=store, group_capacity=200)
    assert len(code.code) == 6
    assert not set(code.code) & set("01OIL")
    assert join_code_resolve(f" {code.code[:3].lower()}-{code.code[3:]} ") == code
    assert join_link(code) == f"https://brand.cn/g/{code.code}"


def test_code_template_is_checked(store, other_store):
    from tests import factories

    stranger = factories.GuideFactory(store=other_store)
    with pytest.raises(ValidationError) as exc:
        join_code_create(
            name=" ",
            store=store,
            group_owner=stranger,
            group_purpose=GroupPurpose.FLASH_SALE,
            group_name="{x}群",
        )
    assert set(exc.value.message_dict) == {"name", "group_owner", "group_expires_at", "group_name"}
