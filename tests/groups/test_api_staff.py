"""The staff groups API: CRUD, members, stats, join codes with QR images, layering runs.
A guide works only their store's groups (404 for others), sees only their store's members,
phones masked; writes outside the store are refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.choices import GroupStatus
from groups.models import CommunityGroup, GroupMembership, JoinCode, LayeringRule
from groups.services.groups import group_create
from groups.services.seats import group_join_by_code
from members.models import Segment
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def ours(make_group, guide):
    return make_group(name="本店群", owner=guide)


@pytest.fixture
def theirs(other_store):
    return factories.CommunityGroupFactory(name="别店群", store=other_store)


def test_operator_creates_changes_and_dissolves_a_group(staff_client, operator, store, guide):
    api = staff_client(operator)
    created = api.post(
        "/api/v1/groups/",
        {"name": "VIP 尊享群", "purpose": "vip", "store": store.code, "owner": guide.pk},
        format="json",
    )
    assert created.status_code == 201, created.json()
    group = created.json()
    assert (group["capacity"], group["status"], group["store"]) == (500, "open", store.code)
    changed = api.patch(f"/api/v1/groups/{group['id']}/", {"capacity": 200}, format="json")
    assert changed.status_code == 200 and changed.json()["capacity"] == 200
    assert api.delete(f"/api/v1/groups/{group['id']}/").status_code == 204
    assert api.get(f"/api/v1/groups/{group['id']}/").json()["status"] == "dissolved"
    assert CommunityGroup.objects.filter(pk=group["id"]).exists()


def test_counters_and_status_cannot_be_written(staff_client, operator, ours):
    api = staff_client(operator)
    for field, value in (("member_count", 0), ("status", "open"), ("dissolved_at", None)):
        response = api.patch(f"/api/v1/groups/{ours.pk}/", {field: value}, format="json")
        assert response.status_code == 400
        assert field in response.json()


def test_bad_input_is_a_400_naming_the_field(staff_client, operator, store, other_store):
    api = staff_client(operator)
    stranger = factories.GuideFactory(store=other_store)
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "capacity": 0}, "capacity"),
        ({"name": "x", "purpose": "flash_sale"}, "expires_at"),
        ({"name": "x", "store": store.code, "owner": stranger.pk}, "owner"),
        ({"name": "x", "store": "NOPE"}, "store"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/groups/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
    assert not CommunityGroup.objects.exists()


def test_capacity_cannot_go_below_the_members(staff_client, operator, ours, make_member, seat):
    seat(ours, make_member(), make_member())
    response = staff_client(operator).patch(
        f"/api/v1/groups/{ours.pk}/", {"capacity": 1}, format="json"
    )
    assert response.status_code == 400 and "capacity" in response.json()


def test_a_guide_sees_and_changes_only_their_stores_groups(staff_client, guide, ours, theirs):
    api = staff_client(guide.user)
    assert [g["id"] for g in api.get("/api/v1/groups/").json()["results"]] == [ours.pk]
    base = f"/api/v1/groups/{theirs.pk}/"
    assert api.get(base).status_code == 404
    assert api.patch(base, {"name": "改"}, format="json").status_code == 404
    assert api.delete(base).status_code == 404
    for tail in ("members/", "stats/"):
        assert api.get(base + tail).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "别店群" and theirs.status == GroupStatus.OPEN


def test_a_guide_creates_groups_in_their_store_only(staff_client, guide, other_store, store):
    api = staff_client(guide.user)
    created = api.post("/api/v1/groups/", {"name": "我的新群"}, format="json")
    assert created.status_code == 201 and created.json()["store"] == store.code
    moved = api.post("/api/v1/groups/", {"name": "x", "store": other_store.code}, format="json")
    assert moved.status_code == 400 and "store" in moved.json()
    group_id = created.json()["id"]
    patch = api.patch(f"/api/v1/groups/{group_id}/", {"store": other_store.code}, format="json")
    assert patch.status_code == 400
    assert CommunityGroup.objects.get(pk=group_id).store == store


def test_a_guide_lists_only_their_stores_members_masked(
    staff_client, guide, operator, ours, make_member, other_store, seat
):
    local = make_member(phone="+8613812345678")
    visitor = factories.MemberFactory(home_store=other_store)
    seat(ours, local, visitor)
    rows = staff_client(guide.user).get(f"/api/v1/groups/{ours.pk}/members/").json()["results"]
    assert [(r["member_id"], r["phone"]) for r in rows] == [(local.pk, "138****5678")]
    full = staff_client(operator).get(f"/api/v1/groups/{ours.pk}/members/").json()["results"]
    assert {r["member_id"] for r in full} == {local.pk, visitor.pk}
    assert "+8613812345678" in {r["phone"] for r in full}


def test_a_guide_invites_their_stores_members(staff_client, guide, ours, make_member, other_store):
    local = make_member()
    visitor = factories.MemberFactory(home_store=other_store)
    response = staff_client(guide.user).post(
        f"/api/v1/groups/{ours.pk}/members/", {"members": [local.pk, visitor.pk]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"added": 1, "member_ids": [local.pk]}
    stay = GroupMembership.objects.get(group=ours)
    assert (stay.member_id, stay.how, stay.invited_by) == (local.pk, "guide_invite", guide)


def test_inviting_more_than_the_seats_left_adds_nobody(
    staff_client, operator, make_group, make_member
):
    group = make_group(capacity=2)
    ids = [make_member().pk for _ in range(3)]
    response = staff_client(operator).post(
        f"/api/v1/groups/{group.pk}/members/", {"members": ids}, format="json"
    )
    assert response.status_code == 400 and "members" in response.json()
    assert not GroupMembership.objects.exists()


def test_removing_a_member(staff_client, operator, ours, make_member, seat):
    member = make_member()
    seat(ours, member)
    api = staff_client(operator)
    assert api.delete(f"/api/v1/groups/{ours.pk}/members/{member.pk}/").status_code == 204
    assert api.delete(f"/api/v1/groups/{ours.pk}/members/{member.pk}/").status_code == 404
    assert GroupMembership.objects.get(member=member).left_reason == "removed"


def test_stats_endpoint(staff_client, guide, ours, make_member, seat):
    seat(ours, make_member())
    api = staff_client(guide.user)
    body = api.get(f"/api/v1/groups/{ours.pk}/stats/?days=7").json()
    assert body["size"] == 1 and len(body["days"]) == 7 and body["days"][-1]["joins"] == 1
    assert set(body["sales"]) == {"orders", "buyers", "revenue", "repeat_buyers", "repurchase_rate"}
    for bad in ("0", "400", "x"):
        assert api.get(f"/api/v1/groups/{ours.pk}/stats/?days={bad}").status_code == 400


def test_filters(staff_client, operator, make_group):
    vip = make_group(purpose="vip")
    make_group(purpose="service")
    rows = staff_client(operator).get("/api/v1/groups/?purpose=vip").json()["results"]
    assert [r["id"] for r in rows] == [vip.pk]


def test_the_list_costs_the_same_queries_for_many_groups(
    staff_client, operator, make_group, django_assert_max_num_queries
):
    api = staff_client(operator)
    for _ in range(25):
        make_group()
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/v1/groups/").json()["results"]) == 25


def test_api_keys_need_the_scope(make_key_api, ours):
    reader = make_key_api("members:read")
    assert reader.get("/api/v1/groups/").status_code == 200
    assert reader.post("/api/v1/groups/", {"name": "x"}, format="json").status_code == 403
    writer = make_key_api("members:read", "members:write")
    assert writer.post("/api/v1/groups/", {"name": "品牌群"}, format="json").status_code == 201
    assert make_key_api("orders:write").get("/api/v1/groups/").status_code == 403


def test_members_cannot_reach_staff_pages(member_client, make_member, ours):
    assert member_client(make_member()).get("/api/v1/groups/").status_code in (401, 403)


# --- join codes ------------------------------------------------------------------------------


def test_codes_with_join_counts_and_qr_images(staff_client, operator, store, make_member):
    api = staff_client(operator)
    created = api.post(
        "/api/v1/group-codes/",
        {"name": "门店福利群", "store": store.code, "group_capacity": 2},
        format="json",
    )
    assert created.status_code == 201, created.json()
    code = created.json()
    for _ in range(3):
        group_join_by_code(member=make_member(), code=code["code"])
    listed = api.get("/api/v1/group-codes/").json()["results"][0]
    assert (listed["joins"], listed["live_groups"]) == (3, 2)
    assert listed["link"].endswith(code["code"])
    png = api.get(code["qr_png"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = api.get(code["qr_svg"])
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content


def test_a_code_can_be_turned_off(staff_client, operator, make_code, make_member):
    code = make_code()
    api = staff_client(operator)
    assert (
        api.patch(f"/api/v1/group-codes/{code.pk}/", {"is_active": False}, format="json").json()[
            "is_active"
        ]
        is False
    )
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        group_join_by_code(member=make_member(), code=code.code)
    assert (
        api.patch(f"/api/v1/group-codes/{code.pk}/", {"join_count": 9}, format="json").status_code
        == 400
    )


def test_guides_see_their_stores_codes_only(staff_client, guide, make_code, other_store):
    mine = make_code()
    other = factories.JoinCodeFactory(store=other_store)
    api = staff_client(guide.user)
    assert [c["id"] for c in api.get("/api/v1/group-codes/").json()["results"]] == [mine.pk]
    assert api.get(f"/api/v1/group-codes/{other.pk}/").status_code == 404
    assert api.get(f"/api/v1/group-codes/{other.pk}/qr.png").status_code == 404
    made = api.post("/api/v1/group-codes/", {"name": "我的活码"}, format="json")
    assert made.status_code == 201 and made.json()["store"] == guide.store.code
    assert JoinCode.objects.filter(store=other_store).count() == 1


def test_a_guide_cannot_put_their_group_in_another_stores_pool(staff_client, guide, other_store):
    other = factories.JoinCodeFactory(store=other_store)
    response = staff_client(guide.user).post(
        "/api/v1/groups/", {"name": "x", "join_code": other.pk}, format="json"
    )
    assert response.status_code == 400 and "join_code" in response.json()


# --- layering --------------------------------------------------------------------------------


def test_layering_dry_run_then_apply(staff_client, operator, make_code, make_member):
    code = make_code()
    for _ in range(2):
        make_member(city="苏州")
    segment = Segment.objects.create(
        name="苏州", tree={"field": "city", "op": "in", "value": ["苏州"]}
    )
    LayeringRule.objects.create(name="苏州会员", segment=segment, join_code=code)
    api = staff_client(operator)
    assert api.get("/api/v1/group-layering/rules/").json()[0]["segment_name"] == "苏州"
    preview = api.post("/api/v1/group-layering/preview/")
    assert preview.status_code == 201
    run = preview.json()
    assert run["status"] == "previewed" and run["preview"][0]["to_place"] == 2
    assert not GroupMembership.objects.exists()
    applied = api.post(f"/api/v1/group-layering/runs/{run['id']}/apply/")
    assert applied.status_code == 202 and applied.json()["status"] == "pending"
    assert api.post(f"/api/v1/group-layering/runs/{run['id']}/apply/").status_code == 400
    from groups.services.layering import layering_run_execute

    layering_run_execute(run_id=run["id"])
    done = api.get(f"/api/v1/group-layering/runs/{run['id']}/").json()
    assert done["status"] == "done" and done["result"][0]["placed"] == 2


def test_guides_cannot_run_layering(staff_client, guide):
    api = staff_client(guide.user)
    assert api.get("/api/v1/group-layering/rules/").status_code == 403
    assert api.post("/api/v1/group-layering/preview/").status_code == 403


def test_flash_group_through_the_api(staff_client, operator):
    end = (timezone.now() + timedelta(days=1)).isoformat()
    response = staff_client(operator).post(
        "/api/v1/groups/",
        {"name": "双11秒杀群", "purpose": "flash_sale", "expires_at": end},
        format="json",
    )
    assert response.status_code == 201 and response.json()["expires_at"]


def test_groups_without_a_store_are_for_operators(staff_client, guide, operator):
    brand = group_create(name="品牌VIP群")
    assert staff_client(guide.user).get(f"/api/v1/groups/{brand.pk}/").status_code == 404
    assert staff_client(operator).get(f"/api/v1/groups/{brand.pk}/").status_code == 200
