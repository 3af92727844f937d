"""Query-count guards on the referrals list endpoints: a page costs the same number of queries
whether it lists two rows or twenty (no N+1), and that number is written down here so an extra
query per request shows up too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import CouponTemplate
from referrals.models import FissionTask, Programme

pytestmark = pytest.mark.django_db


def _get(client, url, django_assert_num_queries, expected: int):
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def signup_task(db):
    now = timezone.now()
    return FissionTask.objects.create(
        name="邀好友注册",
        counts="signup",
        goal=50,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        reward_points=10,
    )


# Member token: the member it names (1); then the page.
INVITEES_QUERIES = 1 + 1
REWARDS_QUERIES = 1 + 1  # rewards with their coupon template and task (joined)
MEMBER_LEADERBOARD_QUERIES = 1 + 2  # the task; the leaders with their members (joined)


# Staff: is the user a guide (1); the member, scoped to the caller; their node; the page of
# nodes; the members on it.
DOWNLINE_LEVEL_QUERIES = 1 + 4
# A guide: the same, plus their permissions (user's and groups', for unmasking phones).
GUIDE_DOWNLINE_QUERIES = 1 + 4 + 2
STAFF_LEADERBOARD_QUERIES = 1 + 2  # is the user a guide; the task; the leaders with members


def _fresh(staff_client, user):
    """A client for a fresh copy of ``user``, as each real request loads it: nothing cached on
    the object (its guide row, its permissions) from an earlier request."""
    from django.contrib.auth import get_user_model

    return staff_client(get_user_model().objects.get(pk=user.pk))


def test_my_invitees_list(
    make_member, refer, pay, programme, member_client, django_assert_num_queries
):
    me = make_member()
    client = member_client(me)
    url = "/api/v1/me/referral/invitees/"
    for _ in range(2):
        refer(make_member(), me)
    assert len(_get(client, url, django_assert_num_queries, INVITEES_QUERIES)["results"]) == 2
    for _ in range(8):
        friend = make_member()
        refer(friend, me)
        pay(friend, "150")
    assert len(_get(client, url, django_assert_num_queries, INVITEES_QUERIES)["results"]) == 10


def test_my_rewards_list(
    make_member, refer, pay, programme, member_client, django_assert_num_queries
):
    coupon = CouponTemplate.objects.create(name="满100减20", value="20", valid_days=30)
    Programme.objects.filter(pk=programme.pk).update(referrer_coupon=coupon)
    now = timezone.now()
    FissionTask.objects.create(
        name="邀1位好友",
        counts="signup",
        goal=1,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        reward_points=5,
    )
    me = make_member()
    client = member_client(me)
    url = "/api/v1/me/referral/rewards/"
    friend = make_member()
    refer(friend, me)
    pay(friend, "200")
    first = _get(client, url, django_assert_num_queries, REWARDS_QUERIES)["results"]
    for _ in range(4):
        friend = make_member()
        refer(friend, me)
        pay(friend, "200")
    rows = _get(client, url, django_assert_num_queries, REWARDS_QUERIES)["results"]
    assert len(rows) > len(first) >= 2
    assert {r["coupon"] for r in rows} == {"满100减20", None}
    assert "邀1位好友" in {r["task"] for r in rows}


def test_downline_level_list(make_member, refer, operator, staff_client, django_assert_num_queries):
    root = make_member()
    url = f"/api/v1/referrals/members/{root.pk}/downline/1/"
    for _ in range(2):
        refer(make_member(), root)
    first = _get(
        _fresh(staff_client, operator), url, django_assert_num_queries, DOWNLINE_LEVEL_QUERIES
    )
    for _ in range(10):
        refer(make_member(), root)
    rows = _get(
        _fresh(staff_client, operator), url, django_assert_num_queries, DOWNLINE_LEVEL_QUERIES
    )["results"]
    assert len(first["results"]) == 2 and len(rows) == 12


def test_downline_level_list_for_a_guide(
    make_member, refer, guide, staff_client, django_assert_num_queries
):
    root = make_member(guide=guide)
    url = f"/api/v1/referrals/members/{root.pk}/downline/1/"
    for _ in range(2):
        refer(make_member(), root)
    first = _get(
        _fresh(staff_client, guide.user), url, django_assert_num_queries, GUIDE_DOWNLINE_QUERIES
    )
    for _ in range(10):
        refer(make_member(), root)
    rows = _get(
        _fresh(staff_client, guide.user), url, django_assert_num_queries, GUIDE_DOWNLINE_QUERIES
    )["results"]
    assert len(first["results"]) == 2 and len(rows) == 12


def test_leaderboards(
    make_member,
    refer,
    signup_task,
    member_client,
    operator,
    staff_client,
    django_assert_num_queries,
):
    me = make_member()
    mine = member_client(me)
    member_url = f"/api/v1/me/fission-tasks/{signup_task.pk}/leaderboard/"
    staff_url = f"/api/v1/referrals/fission-tasks/{signup_task.pk}/leaderboard/"
    for _ in range(2):
        refer(make_member(), make_member())
    assert len(_get(mine, member_url, django_assert_num_queries, MEMBER_LEADERBOARD_QUERIES)) == 2
    assert (
        len(
            _get(
                _fresh(staff_client, operator),
                staff_url,
                django_assert_num_queries,
                STAFF_LEADERBOARD_QUERIES,
            )
        )
        == 2
    )
    for _ in range(10):
        refer(make_member(), make_member())
    assert len(_get(mine, member_url, django_assert_num_queries, MEMBER_LEADERBOARD_QUERIES)) == 12
    assert (
        len(
            _get(
                _fresh(staff_client, operator),
                staff_url,
                django_assert_num_queries,
                STAFF_LEADERBOARD_QUERIES,
            )
        )
        == 12
    )
