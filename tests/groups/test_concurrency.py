"""Capacity and exactly-once under concurrency, with real threads and real transactions.

Joins racing for the last seats: meaningful on PostgreSQL, where the conditional UPDATE waits
for the row lock and re-checks ``member_count < capacity``; on SQLite, IMMEDIATE transactions
serialise writers, so the race cannot happen and the test is skipped. The dissolution race
runs on both (on SQLite it checks the same outcome with serialised writers)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from groups import selectors
from groups.choices import GroupPurpose, GroupStatus
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership
from groups.services.flash import flash_groups_dissolve_due
from groups.services.groups import group_create
from groups.services.seats import group_join_by_code
from members.models import Event

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers (IMMEDIATE transactions): joins cannot race there",
)


def _race(targets) -> tuple[list, list[BaseException]]:
    """Run every target in its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(targets))
    results, errors = [], []
    lock = threading.Lock()

    def run(target):
        try:
            barrier.wait(timeout=10)
            outcome = target()
            with lock:
                results.append(outcome)
        except BaseException as exc:  # collected, the test decides
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def _join(member, code):
    return lambda: group_join_by_code(member=member, code=code)[0].group_id


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_push_a_group_past_capacity(make_code, make_member):
    code = make_code(auto_open=False)
    group = group_create(name="限量群", join_code=code, capacity=5)
    members = [make_member() for _ in range(16)]
    seated, errors = _race([_join(m, code) for m in members])
    assert len(seated) == 5
    assert len(errors) == 11
    assert all(isinstance(e, ValidationError) for e in errors), errors
    group.refresh_from_db()
    assert (group.member_count, group.status) == (5, GroupStatus.FULL)
    assert GroupMembership.objects.filter(group=group, left_at__isnull=True).count() == 5


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_overflow_opens_just_enough_groups(make_code, make_member):
    code = make_code(group_capacity=3)
    members = [make_member() for _ in range(20)]
    seated, errors = _race([_join(m, code) for m in members])
    assert not errors, errors
    assert len(seated) == 20
    pool = list(CommunityGroup.objects.filter(join_code=code).order_by("position"))
    # ceil(20 / 3) groups: nobody opened a group while another had room.
    assert [g.member_count for g in pool] == [3, 3, 3, 3, 3, 3, 2]
    for group in pool:
        current = GroupMembership.objects.filter(group=group, left_at__isnull=True).count()
        assert current == group.member_count <= group.capacity


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_double_tap_takes_one_seat(make_code, make_member):
    code = make_code()
    member = make_member()
    seated, errors = _race([_join(member, code) for _ in range(4)])
    assert not errors, errors
    assert len(set(seated)) == 1
    assert GroupMembership.objects.filter(member=member).count() == 1
    assert Event.objects.filter(member=member, kind=GroupEventKind.JOINED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_flash_group_dissolves_once_when_the_job_runs_twice_at_once(
    make_code, make_member, seat, monkeypatch
):
    end = timezone.now() + timedelta(hours=1)
    group = group_create(name="双11秒杀群", purpose=GroupPurpose.FLASH_SALE, expires_at=end)
    members = [make_member() for _ in range(4)]
    seat(group, *members)
    sales = selectors.group_sales

    def slow_sales(*args, **kwargs):
        time.sleep(0.2)  # both runs are inside the dissolution at once
        return sales(*args, **kwargs)

    monkeypatch.setattr("groups.selectors.group_sales", slow_sales)
    later = end + timedelta(minutes=1)
    counts, errors = _race([lambda: flash_groups_dissolve_due(now=later)] * 2)
    assert not errors, errors
    assert sorted(counts) == [0, 1]
    dissolved = Event.objects.filter(kind=GroupEventKind.DISSOLVED)
    assert sorted(dissolved.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    group.refresh_from_db()
    assert group.status == GroupStatus.DISSOLVED
    assert group.dissolved_at == end
