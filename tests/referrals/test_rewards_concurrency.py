"""Exactly once under concurrency: workers racing on the same order write one ledger row per
reward. Meaningful on PostgreSQL (row locks, ON CONFLICT waits for the first insert); on
SQLite the writers are serialised by IMMEDIATE transactions and the test checks the same."""

import threading
import time

import pytest
from django.db import connection, connections

from members.events import events_dispatch_now
from members.models import Event, PointsEntry
from members.services import benefits
from referrals.choices import RewardKind
from referrals.models import Reward
from referrals.services.orders import referral_order_paid

WORKERS = 4


def _race(target) -> list[BaseException]:
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def slow_ledger(monkeypatch):
    """Make the ledger write slow, so every worker is inside the reward path at once."""
    earn = benefits.points_earn

    def slow_earn(**kwargs):
        time.sleep(0.2)
        return earn(**kwargs)

    monkeypatch.setattr("referrals.services.rewards.points_earn", slow_earn)


def _ledger_rows_for_rewards() -> int:
    ids = Reward.objects.exclude(points_entry=None).values_list("points_entry_id", flat=True)
    return PointsEntry.objects.filter(pk__in=list(ids)).count()


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_on_one_order_pay_each_reward_once(
    make_member, refer, pay, programme, slow_ledger
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200", run=False)
    errors = _race(lambda: referral_order_paid(order_id=order.pk))
    assert not errors, errors
    kinds = sorted(Reward.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == sorted([RewardKind.REFERRER, RewardKind.REFEREE, RewardKind.COMMISSION_1])
    assert _ledger_rows_for_rewards() == 3
    referrer.refresh_from_db()
    assert referrer.points_balance == 100 + 20
    assert PointsEntry.objects.filter(member=referrer).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_same_event_dispatched_by_concurrent_workers_rewards_once(
    make_member, refer, pay, programme, slow_ledger
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    pay(friend, "200", run=False)
    ids = list(Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True))
    errors = _race(lambda: events_dispatch_now(event_ids=ids))
    assert not errors, errors
    assert Reward.objects.count() == 3
    assert _ledger_rows_for_rewards() == 3
    referrer.refresh_from_db()
    assert referrer.points_balance == 120
    assert connection.vendor in ("postgresql", "sqlite")
