"""Layering (分层): ordered (segment → pool) rules, first match wins, counted before anything is
written, then applied set-based without overfilling a group or placing anyone twice."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.choices import JoinMethod, LayeringRunStatus
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership, LayeringRule, LayeringRun
from groups.services.groups import group_create
from groups.services.layering import (
    layering_apply,
    layering_counts,
    layering_preview,
    layering_run_execute,
)
from groups.services.seats import group_join_by_code
from members.models import Event, Segment
from tests import factories

pytestmark = pytest.mark.django_db


def _segment(name, tree):
    return Segment.objects.create(name=name, tree=tree)


@pytest.fixture
def setup(make_member, make_code, store):
    """Shanghai members to pool A (groups of 3), then VIP tier members to pool B (no new
    groups, one group of 2 seats)."""
    vip = factories.TierFactory(code="vip")
    shanghai = [make_member(province="上海") for _ in range(7)]
    shanghai_vip = make_member(province="上海", tier=vip)
    vips = [make_member(province="浙江", tier=vip) for _ in range(3)]
    others = [make_member(province="江苏") for _ in range(2)]
    pool_a = make_code(name="上海群", group_capacity=3)
    pool_b = make_code(name="VIP群", auto_open=False)
    group_create(name="VIP 1", join_code=pool_b, capacity=2)
    LayeringRule.objects.create(
        position=1,
        name="上海",
        segment=_segment("上海会员", {"field": "province", "op": "in", "value": ["上海"]}),
        join_code=pool_a,
    )
    LayeringRule.objects.create(
        position=2,
        name="VIP",
        segment=_segment("VIP", {"field": "tier", "op": "in", "value": ["vip"]}),
        join_code=pool_b,
    )
    return {
        "shanghai": [*shanghai, shanghai_vip],
        "vips": vips,
        "others": others,
        "pool_a": pool_a,
        "pool_b": pool_b,
    }


def test_the_dry_run_counts_and_writes_nothing(setup):
    rows = layering_counts()
    assert [(r["name"], r["matched"], r["to_place"]) for r in rows] == [
        ("上海", 8, 8),
        ("VIP", 3, 3),  # the Shanghai VIP matched rule 1 first
    ]
    assert rows[0]["seats_available"] == 0 and rows[0]["new_groups"] == 3
    assert rows[0]["unplaced"] == 0
    assert rows[1]["seats_available"] == 2 and rows[1]["new_groups"] == 0
    assert rows[1]["unplaced"] == 1
    assert not GroupMembership.objects.exists()
    assert CommunityGroup.objects.count() == 1


def test_applying_places_first_match_and_never_overfills(setup):
    run = layering_preview()
    layering_apply(run=run)
    run = layering_run_execute(run_id=run.pk)
    assert run.status == LayeringRunStatus.DONE
    assert [(r["placed"], r["groups_opened"], r["unplaced"]) for r in run.result] == [
        (8, 3, 0),
        (2, 0, 1),
    ]
    pool_a = list(CommunityGroup.objects.filter(join_code=setup["pool_a"]).order_by("position"))
    assert [g.member_count for g in pool_a] == [3, 3, 2]
    in_a = set(GroupMembership.objects.filter(group__in=pool_a).values_list("member_id", flat=True))
    assert in_a == {m.pk for m in setup["shanghai"]}
    in_b = GroupMembership.objects.filter(group__join_code=setup["pool_b"])
    assert in_b.count() == 2
    assert set(in_b.values_list("how", flat=True)) == {JoinMethod.RULE}
    others = [m.pk for m in setup["others"]]
    assert not GroupMembership.objects.filter(member_id__in=others).exists()
    event = Event.objects.filter(kind=GroupEventKind.JOINED).order_by("pk").first()
    assert event.data["how"] == "rule" and event.data["code_id"] == setup["pool_a"].pk
    assert Event.objects.filter(kind=GroupEventKind.JOINED).count() == 10


def test_running_again_places_nobody_twice(setup):
    setup["pool_b"].auto_open = True
    setup["pool_b"].save()
    for _ in range(2):
        run = layering_preview()
        layering_apply(run=run)
        layering_run_execute(run_id=run.pk)
    assert GroupMembership.objects.count() == 11
    second = LayeringRun.objects.order_by("-pk").first()
    assert [r["placed"] for r in second.result] == [0, 0]
    assert [r["already_in_pool"] for r in second.preview] == [8, 3]


def test_a_member_already_seated_by_code_is_left_where_they_are(setup):
    member = setup["shanghai"][0]
    seat, _ = group_join_by_code(member=member, code=setup["pool_a"])
    run = layering_preview()
    assert run.preview[0]["already_in_pool"] == 1
    layering_apply(run=run)
    layering_run_execute(run_id=run.pk)
    assert list(
        GroupMembership.objects.filter(member=member).values_list("group_id", flat=True)
    ) == [seat.group_id]


def test_a_run_is_applied_once_and_claimed_once(setup):
    run = layering_preview()
    assert layering_run_execute(run_id=run.pk) is None  # not applied yet: nothing happens
    layering_apply(run=run)
    with pytest.raises(ValidationError):
        layering_apply(run=run)
    assert layering_run_execute(run_id=run.pk) is not None
    assert layering_run_execute(run_id=run.pk) is None  # a duplicate task
    assert GroupMembership.objects.count() == 10


def test_without_rules_there_is_nothing_to_count(db):
    with pytest.raises(ValidationError):
        layering_preview()


def test_a_broken_segment_is_shown_in_the_dry_run_and_blocks_applying(setup):
    rule = LayeringRule.objects.get(name="VIP")
    Segment.objects.filter(pk=rule.segment_id).update(tree={"field": "nope", "op": "eq"})
    run = layering_preview()
    assert run.preview[1]["error"]
    with pytest.raises(ValidationError):
        layering_apply(run=run)
    assert not GroupMembership.objects.exists()


def test_placing_works_on_sets_not_rows(make_member, make_code):
    code = make_code(group_capacity=50)
    for _ in range(120):
        make_member(city="杭州")
    LayeringRule.objects.create(
        name="杭州",
        segment=_segment("杭州", {"field": "city", "op": "in", "value": ["杭州"]}),
        join_code=code,
    )
    run = layering_preview()
    layering_apply(run=run)
    with CaptureQueriesContext(connection) as queries:
        layering_run_execute(run_id=run.pk)
    assert GroupMembership.objects.count() == 120
    # A few statements per group filled (3 groups), not per member placed.
    assert len(queries) < 60, len(queries)
