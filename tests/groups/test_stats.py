"""Group stats: size and seats, joins and leaves per local day, orders from members while in
the group and their repurchase rate, each an SQL aggregate."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from groups.selectors import group_stats
from groups.services.seats import group_leave

pytestmark = pytest.mark.django_db


def test_joins_and_leaves_per_day_with_zeros_filled(make_group, make_member, seat):
    group = make_group(capacity=10)
    now = timezone.now()
    two_days_ago = now - timedelta(days=2)
    early = [make_member() for _ in range(3)]
    seat(group, *early, now=two_days_ago)
    seat(group, make_member())
    group_leave(member=early[0], group=group, now=now)
    group.refresh_from_db()
    stats = group_stats(group, days=3, now=now)
    today = timezone.localdate(now)
    assert [(d["day"], d["joins"], d["leaves"]) for d in stats["days"]] == [
        (today - timedelta(days=2), 3, 0),
        (today - timedelta(days=1), 0, 0),
        (today, 1, 1),
    ]
    assert (stats["size"], stats["capacity"], stats["seats_left"]) == (3, 10, 7)
    assert (stats["joins_total"], stats["leaves_total"]) == (4, 1)


def test_orders_and_repurchase_rate_of_members_while_in_the_group(
    make_group, make_member, seat, pay
):
    group = make_group()
    joined = timezone.now() - timedelta(days=10)
    loyal, once, outsider = make_member(), make_member(), make_member()
    seat(group, loyal, once, now=joined)
    pay(loyal, "100", paid_at=joined - timedelta(days=1))  # before: not counted
    pay(loyal, "120", paid_at=joined + timedelta(days=1))
    pay(loyal, "80", paid_at=joined + timedelta(days=2))
    pay(once, "60", paid_at=joined + timedelta(days=3))
    pay(outsider, "999", paid_at=joined + timedelta(days=3))
    group_leave(member=once, group=group, now=joined + timedelta(days=4))
    pay(once, "70", paid_at=joined + timedelta(days=5))  # after leaving: not counted
    sales = group_stats(group)["sales"]
    assert sales == {
        "orders": 3,
        "buyers": 2,
        "revenue": Decimal("260.00"),
        "repeat_buyers": 1,
        "repurchase_rate": 0.5,
    }


def test_stats_take_the_same_few_queries_whatever_the_group_size(
    make_group, make_member, seat, pay
):
    small, big = make_group(), make_group()
    seat(small, make_member())
    members = [make_member() for _ in range(30)]
    seat(big, *members)
    for member in members:
        pay(member, "10")

    def queries(group):
        with CaptureQueriesContext(connection) as captured:
            group_stats(group)
        return len(captured)

    assert queries(small) == queries(big) <= 6


def test_each_members_latest_group_in_one_query(make_group, make_member, seat):
    from groups.selectors import members_latest_group

    old = make_group(name="老群")
    new = make_group(name="新群", invite_link="https://work.weixin.qq.com/g/new")
    a, b, c = make_member(), make_member(), make_member()
    seat(old, a, b, now=timezone.now() - timedelta(days=3))
    seat(new, a)
    with CaptureQueriesContext(connection) as captured:
        latest = members_latest_group(member_ids=[a.pk, b.pk, c.pk])
    assert len(captured) == 1
    assert latest[a.pk]["name"] == "新群" and latest[a.pk]["invite_link"].endswith("/new")
    assert latest[b.pk]["group_id"] == old.pk
    assert c.pk not in latest
