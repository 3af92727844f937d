"""The groups admin: operators run groups, codes and layering; a shop guide given the groups
permissions sees their store's groups, codes and members only. Writes go through the services
(the form refuses what the services would)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from groups.choices import GroupStatus, LayeringRunStatus
from groups.models import CommunityGroup, GroupMembership, JoinCode, LayeringRule, LayeringRun
from groups.services.seats import group_join_by_code
from members.models import Segment
from tests import factories

pytestmark = pytest.mark.django_db

GROUP_PERMISSIONS = (
    "view_communitygroup",
    "add_communitygroup",
    "change_communitygroup",
    "view_joincode",
    "add_joincode",
    "view_groupmembership",
    "view_layeringrule",
)


@pytest.fixture
def guide_admin(guide, roles):
    """A shop guide in the "Shop guides" role, also given the groups permissions by hand."""
    guide.user.groups.add(roles["guides"])
    guide.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="groups", codename__in=GROUP_PERMISSIONS)
    )
    client = Client()
    client.force_login(guide.user)
    return client


def test_operator_sees_groups_with_size_and_the_app_in_chinese(operator_admin, make_group):
    make_group(name="静安宝妈群", capacity=200)
    index = operator_admin.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "社群" in index
    page = operator_admin.get("/admin/groups/communitygroup/").content.decode()
    assert "静安宝妈群" in page and "0 / 200" in page


def test_operator_creates_a_group_through_the_form(operator_admin, store, guide):
    response = operator_admin.post(
        "/admin/groups/communitygroup/add/",
        {
            "name": "新会员群",
            "purpose": "service",
            "store": store.pk,
            "owner": guide.pk,
            "capacity": 300,
            "position": 0,
            "memberships-TOTAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    group = CommunityGroup.objects.get(name="新会员群")
    assert (group.capacity, group.owner, group.status) == (300, guide, GroupStatus.OPEN)


def test_the_form_refuses_what_the_services_refuse(operator_admin, store, other_store):
    stranger = factories.GuideFactory(store=other_store)
    response = operator_admin.post(
        "/admin/groups/communitygroup/add/",
        {
            "name": "秒杀群",
            "purpose": "flash_sale",
            "store": store.pk,
            "owner": stranger.pk,
            "capacity": 500,
            "position": 0,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"owner", "expires_at"} <= set(errors)
    assert not CommunityGroup.objects.exists()


def test_stats_page_and_dissolve_action(operator_admin, make_group, make_member, seat):
    group = seat(make_group(name="统计群"), make_member(), make_member())
    page = operator_admin.get(f"/admin/groups/communitygroup/{group.pk}/stats/")
    assert page.status_code == 200
    assert "2 / 500" in page.content.decode()
    operator_admin.post(
        "/admin/groups/communitygroup/",
        {"action": "dissolve_groups", "_selected_action": [group.pk]},
    )
    group.refresh_from_db()
    assert group.status == GroupStatus.DISSOLVED
    assert not GroupMembership.objects.filter(left_at__isnull=True).exists()


def test_operator_makes_a_code_and_downloads_its_qr(operator_admin, store, make_member):
    response = operator_admin.post(
        "/admin/groups/joincode/add/",
        {
            "name": "门店活码",
            "store": store.pk,
            "is_active": "on",
            "auto_open": "on",
            "group_purpose": "service",
            "group_capacity": 2,
            "groups-TOTAL_FORMS": 0,
            "groups-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    code = JoinCode.objects.get(name="门店活码")
    assert len(code.code) == 6
    for _ in range(3):
        group_join_by_code(member=make_member(), code=code)
    listing = operator_admin.get("/admin/groups/joincode/").content.decode()
    assert code.code in listing
    change = operator_admin.get(f"/admin/groups/joincode/{code.pk}/change/").content.decode()
    assert f"/admin/groups/joincode/{code.pk}/qr.png" in change
    png = operator_admin.get(f"/admin/groups/joincode/{code.pk}/qr.png")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = operator_admin.get(f"/admin/groups/joincode/{code.pk}/qr.svg")
    assert b"<svg" in svg.content


def test_layering_dry_run_then_apply_in_the_admin(operator_admin, make_code, make_member):
    code = make_code()
    make_member(city="宁波")
    segment = Segment.objects.create(
        name="宁波", tree={"field": "city", "op": "in", "value": ["宁波"]}
    )
    LayeringRule.objects.create(name="宁波会员", segment=segment, join_code=code)
    assert (
        "Dry run"
        in operator_admin.get(
            "/admin/groups/layeringrule/", HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    )
    response = operator_admin.post("/admin/groups/layeringrule/preview/")
    run = LayeringRun.objects.get()
    assert response["Location"] == f"/admin/groups/layeringrun/{run.pk}/change/"
    page = operator_admin.get(response["Location"]).content.decode()
    assert "宁波会员" in page and "apply" in page
    assert not GroupMembership.objects.exists()
    operator_admin.post(f"/admin/groups/layeringrun/{run.pk}/apply/")
    run.refresh_from_db()
    assert run.status == LayeringRunStatus.PENDING


def test_a_guide_sees_only_their_stores_groups_and_codes(
    guide_admin, make_group, make_code, other_store
):
    ours = make_group(name="本店群")
    theirs = factories.CommunityGroupFactory(name="别店群", store=other_store)
    factories.JoinCodeFactory(name="别店活码", store=other_store)
    make_code(name="本店活码")
    page = guide_admin.get("/admin/groups/communitygroup/").content.decode()
    assert "本店群" in page and "别店群" not in page
    assert guide_admin.get(f"/admin/groups/communitygroup/{theirs.pk}/stats/").status_code == 404
    assert guide_admin.get(f"/admin/groups/communitygroup/{ours.pk}/stats/").status_code == 200
    other = guide_admin.get(f"/admin/groups/communitygroup/{theirs.pk}/change/")
    assert other.status_code == 302  # the admin's "does not exist" redirect, nothing shown
    codes = guide_admin.get("/admin/groups/joincode/").content.decode()
    assert "本店活码" in codes and "别店活码" not in codes


def test_a_guides_new_group_is_in_their_store(guide_admin, guide, store):
    response = guide_admin.post(
        "/admin/groups/communitygroup/add/",
        {
            "name": "导购的群",
            "purpose": "interest",
            "store": store.pk,
            "capacity": 100,
            "position": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CommunityGroup.objects.get(name="导购的群").store == store


def test_a_guide_sees_their_stores_members_in_the_memberships(
    guide_admin, make_group, make_member, other_store, seat
):
    local = make_member()
    visitor = factories.MemberFactory(home_store=other_store)
    group = seat(make_group(), local, visitor)
    page = guide_admin.get(f"/admin/groups/groupmembership/?group__id__exact={group.pk}")
    text = page.content.decode()
    assert f"#{local.pk}<" in text and f"#{visitor.pk}<" not in text


def test_guides_get_no_layering(guide_admin):
    assert guide_admin.get("/admin/groups/layeringrule/").status_code == 403
    assert guide_admin.post("/admin/groups/layeringrule/preview/").status_code == 403


def test_broadcast_from_the_group_list(operator_admin, make_group, guide, monkeypatch):
    from groups.models import GroupBroadcast
    from groups.services import broadcasts

    monkeypatch.setattr(broadcasts, "_senders", [])  # the campaign engine's is not wired here
    guide.wecom_userid = "wx-guide"
    guide.save()
    group = make_group(owner=guide, wecom_chat_id="chat-1")
    response = operator_admin.post(
        "/admin/groups/communitygroup/",
        {"action": "broadcast_to_groups", "_selected_action": [group.pk]},
    )
    assert response["Location"] == f"/admin/groups/groupbroadcast/add/?groups={group.pk}"
    page = operator_admin.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "No sender is registered yet" in page.content.decode()
    saved = operator_admin.post(
        "/admin/groups/groupbroadcast/add/",
        {
            "text": "今晚直播",
            "groups": [group.pk],
            "deliveries-TOTAL_FORMS": 0,
            "deliveries-INITIAL_FORMS": 0,
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    broadcast = GroupBroadcast.objects.get()
    assert [d.chat_ids for d in broadcast.deliveries.all()] == [["chat-1"]]


def test_the_broadcast_form_names_groups_that_cannot_be_sent_to(operator_admin, make_group):
    from groups.models import GroupBroadcast

    group = make_group()  # no chat id, no owner
    response = operator_admin.post(
        "/admin/groups/groupbroadcast/add/",
        {
            "text": "x",
            "groups": [group.pk],
            "deliveries-TOTAL_FORMS": 0,
            "deliveries-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.errors
    assert not GroupBroadcast.objects.exists()
