"""Tree queries and operations for staff and shop systems; guides are kept to their store."""

from datetime import timedelta

import pytest
from django.utils import timezone

from referrals.models import FissionTask, Referral
from referrals.services.codes import referral_code_for_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(make_member, refer, other_store):
    """root -> a -> a1 -> a11, root -> b; b is in another store."""
    root = make_member(name="根")
    a = make_member(name="甲", phone="+8613811112222")
    b = make_member(name="乙", home_store=other_store)
    a1, a11 = make_member(), make_member()
    refer(a, root)
    refer(b, root)
    refer(a1, a)
    refer(a11, a1)
    return {"root": root, "a": a, "b": b, "a1": a1, "a11": a11}


def test_operator_reads_summary_upline_and_downline(tree, operator, staff_client):
    client = staff_client(operator)
    root, a11 = tree["root"], tree["a11"]
    summary = client.get(f"/api/v1/referrals/members/{root.pk}/").json()
    assert (summary["depth"], summary["invitees"], summary["downline"]) == (0, 2, 4)
    assert summary["code"]
    upline = client.get(f"/api/v1/referrals/members/{a11.pk}/upline/").json()
    assert [e["member"]["id"] for e in upline] == [root.pk, tree["a"].pk, tree["a1"].pk]
    assert upline[1]["member"]["phone"] == "+8613811112222"
    downline = client.get(f"/api/v1/referrals/members/{root.pk}/downline/").json()
    assert downline == {
        "total": 4,
        "levels": [
            {"level": 1, "count": 2},
            {"level": 2, "count": 1},
            {"level": 3, "count": 1},
        ],
    }
    level1 = client.get(f"/api/v1/referrals/members/{root.pk}/downline/1/").json()
    assert {r["id"] for r in level1["results"]} == {tree["a"].pk, tree["b"].pk}


def test_guide_sees_own_store_masked_and_404_for_another_store(tree, guide, staff_client):
    client = staff_client(guide.user)
    b = tree["b"]
    for url in (
        f"/api/v1/referrals/members/{b.pk}/",
        f"/api/v1/referrals/members/{b.pk}/upline/",
        f"/api/v1/referrals/members/{b.pk}/downline/",
        f"/api/v1/referrals/members/{b.pk}/downline/1/",
    ):
        assert client.get(url).status_code == 404, url
    root = tree["root"]
    level1 = client.get(f"/api/v1/referrals/members/{root.pk}/downline/1/").json()
    assert [r["id"] for r in level1["results"]] == [tree["a"].pk]
    assert level1["results"][0]["phone"] == "138****2222"
    upline = client.get(f"/api/v1/referrals/members/{tree['a11'].pk}/upline/").json()
    assert upline[1]["member"]["phone"] == "138****2222"
    # Flags are for operators.
    assert client.get(f"/api/v1/referrals/members/{root.pk}/").json()["flags"] == []


def test_guide_upline_hides_members_of_other_stores(
    make_member, refer, other_store, guide, staff_client
):
    outsider = make_member(home_store=other_store)
    mine = make_member()
    refer(mine, outsider)
    upline = staff_client(guide.user).get(f"/api/v1/referrals/members/{mine.pk}/upline/").json()
    assert upline == [{"depth": 0, "member": None}]


def test_member_outside_the_tree_is_404_for_tree_reads(make_member, operator, staff_client):
    loner = make_member()
    client = staff_client(operator)
    assert client.get(f"/api/v1/referrals/members/{loner.pk}/upline/").status_code == 404
    assert client.get(f"/api/v1/referrals/members/{loner.pk}/").json()["downline"] == 0


def test_guide_code_and_poster(guide, staff_client, make_member, refer):
    client = staff_client(guide.user)
    body = client.get("/api/v1/referrals/guide/code/").json()
    assert len(body["code"]) == 6 and body["referrals"] == 0
    refer(make_member(), guide)
    assert client.get("/api/v1/referrals/guide/code/").json()["referrals"] == 1
    poster = client.get("/api/v1/referrals/guide/poster.png")
    assert poster.status_code == 200 and poster.content.startswith(b"\x89PNG")


def test_operators_have_no_guide_code(operator, staff_client):
    assert staff_client(operator).get("/api/v1/referrals/guide/code/").status_code == 403


def test_attach_by_api_key_needs_members_write(make_member, make_key_api):
    member = make_member()
    code = referral_code_for_member(member=make_member()).code
    body = {"member": member.pk, "code": code}
    assert (
        make_key_api("members:read")
        .post("/api/v1/referrals/attach/", body, format="json")
        .status_code
        == 403
    )
    response = make_key_api("members:write").post("/api/v1/referrals/attach/", body, format="json")
    assert response.status_code == 200, response.json()
    assert Referral.objects.get(referee=member).channel == "api"


def test_guide_attach_only_for_own_store(make_member, other_store, guide, staff_client):
    code = referral_code_for_member(member=make_member()).code
    stranger = make_member(home_store=other_store)
    client = staff_client(guide.user)
    body = {"member": stranger.pk, "code": code}
    assert client.post("/api/v1/referrals/attach/", body, format="json").status_code == 404
    mine = make_member()
    body = {"member": mine.pk, "code": code}
    assert client.post("/api/v1/referrals/attach/", body, format="json").status_code == 200
    assert (
        client.post(
            "/api/v1/referrals/attach/", {"member": mine.pk, "code": "ZZZZZZ"}, format="json"
        ).status_code
        == 400
    )


def test_programme_metrics_for_operators_only(programme, operator, guide, staff_client):
    url = f"/api/v1/referrals/programmes/{programme.pk}/metrics/"
    body = staff_client(operator).get(url).json()
    assert set(body) >= {"referral_rate", "k_factor", "active_members", "new_buyers"}
    assert staff_client(guide.user).get(url).status_code == 403


def test_staff_leaderboard(make_member, refer, operator, staff_client):
    now = timezone.now()
    task = FissionTask.objects.create(
        name="t",
        counts="signup",
        goal=5,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    leader = make_member(name="冠军")
    refer(make_member(), leader)
    rows = (
        staff_client(operator).get(f"/api/v1/referrals/fission-tasks/{task.pk}/leaderboard/").json()
    )
    assert rows == [{"rank": 1, "member_id": leader.pk, "name": "冠军", "count": 1}]
