"""The mini-program's group API: join by code (idempotent, never a full group), my groups,
leave. A member token reaches only its own seats; staff and keys are refused."""

import pytest

from groups.models import GroupMembership
from groups.services.groups import group_create
from groups.services.seats import group_join_by_code

pytestmark = pytest.mark.django_db


def test_join_by_code_gives_a_seat_with_what_the_page_shows(
    make_code, make_member, member_client, guide
):
    code = make_code()
    group_create(
        name="静安宝妈群",
        join_code=code,
        owner=guide,
        capacity=2,
        invite_link="https://work.weixin.qq.com/g/abc",
    )
    member = make_member()
    response = member_client(member).post(
        "/api/v1/me/groups/join/", {"code": code.code.lower()}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["joined"] is True
    assert body["group"]["name"] == "静安宝妈群"
    assert body["group"]["owner_name"] == guide.name
    assert body["group"]["invite_link"] == "https://work.weixin.qq.com/g/abc"
    assert body["group"]["how"] == "code"


def test_scanning_again_returns_the_same_group(make_code, make_member, member_client):
    code = make_code()
    client = member_client(make_member())
    first = client.post("/api/v1/me/groups/join/", {"code": code.code}, format="json").json()
    again = client.post("/api/v1/me/groups/join/", {"code": code.code}, format="json").json()
    assert again["joined"] is False
    assert again["group"]["id"] == first["group"]["id"]
    assert GroupMembership.objects.count() == 1


def test_the_idempotency_key_replays_the_first_answer(make_code, make_member, member_client):
    code = make_code()
    client = member_client(make_member())
    headers = {"HTTP_IDEMPOTENCY_KEY": "join-1"}
    first = client.post("/api/v1/me/groups/join/", {"code": code.code}, format="json", **headers)
    again = client.post("/api/v1/me/groups/join/", {"code": code.code}, format="json", **headers)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_full_group_is_never_given(make_code, make_member, member_client):
    code = make_code(auto_open=False)
    group = group_create(name="满员群", join_code=code, capacity=1)
    group_join_by_code(member=make_member(), code=code)
    response = member_client(make_member()).post(
        "/api/v1/me/groups/join/", {"code": code.code}, format="json"
    )
    assert response.status_code == 400
    assert "code" in response.json()
    group.refresh_from_db()
    assert group.member_count == 1


def test_bad_codes_are_a_clear_400(make_member, member_client):
    client = member_client(make_member())
    for body in ({"code": "NOPE22"}, {}, {"code": "X" * 40}, {"code": "AB", "group": 1}):
        response = client.post("/api/v1/me/groups/join/", body, format="json")
        assert response.status_code == 400, body
    assert not GroupMembership.objects.exists()


def test_my_groups_and_leaving(make_code, make_member, member_client, make_group, seat):
    code = make_code()
    member, other = make_member(), make_member()
    mine, _ = group_join_by_code(member=member, code=code)
    seat(make_group(name="别人的群"), other)
    client = member_client(member)
    listed = client.get("/api/v1/me/groups/").json()
    assert [g["id"] for g in listed] == [mine.group_id]
    assert client.post(f"/api/v1/me/groups/{mine.group_id}/leave/").status_code == 204
    assert client.post(f"/api/v1/me/groups/{mine.group_id}/leave/").status_code == 204
    assert client.get("/api/v1/me/groups/").json() == []
    mine.group.refresh_from_db()
    assert mine.group.member_count == 0


def test_leaving_a_group_i_was_never_in_is_a_404(make_group, make_member, member_client, seat):
    group = seat(make_group(), make_member())
    response = member_client(make_member()).post(f"/api/v1/me/groups/{group.pk}/leave/")
    assert response.status_code == 404
    group.refresh_from_db()
    assert group.member_count == 1


def test_staff_and_keys_cannot_use_the_member_pages(staff_client, operator, make_key_api):
    assert staff_client(operator).get("/api/v1/me/groups/").status_code in (401, 403)
    key = make_key_api("members:read", "members:write")
    assert key.post("/api/v1/me/groups/join/", {"code": "ABCDEF"}).status_code in (401, 403)
