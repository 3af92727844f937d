"""Fission tasks: progress per member from their own invitees, leaderboard, the reward once,
the end date, and a clawback when refunds take a member back under the goal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from referrals import selectors
from referrals.choices import FissionCounts, RewardKind, RewardStatus
from referrals.models import FissionProgress, FissionTask, Reward
from referrals.services.fission import fission_progress_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(db):
    now = timezone.now()
    return FissionTask.objects.create(
        name="邀3位好友下单得300积分",
        counts=FissionCounts.PURCHASE,
        goal=3,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        reward_points=300,
    )


@pytest.fixture
def signup_task(db):
    now = timezone.now()
    return FissionTask.objects.create(
        name="邀2位好友注册",
        counts=FissionCounts.SIGNUP,
        goal=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=7),
        reward_points=20,
    )


def _progress(task, member) -> int:
    row = FissionProgress.objects.filter(task=task, member=member).first()
    return row.count if row else 0


def test_signups_count_at_once_and_reward_the_goal_once(make_member, refer, signup_task):
    referrer = make_member()
    refer(make_member(), referrer)
    assert _progress(signup_task, referrer) == 1
    refer(make_member(), referrer)
    refer(make_member(), referrer)
    assert _progress(signup_task, referrer) == 3
    reward = Reward.objects.get(kind=RewardKind.FISSION)
    assert (reward.member, reward.points, reward.status) == (referrer, 20, RewardStatus.GRANTED)
    assert Member.objects.get(pk=referrer.pk).points_balance == 20
    fission_progress_refresh(member_id=referrer.pk)
    assert Reward.objects.filter(kind=RewardKind.FISSION).count() == 1


def test_purchase_task_counts_friends_who_bought(make_member, refer, pay, task):
    referrer = make_member()
    friends = [make_member() for _ in range(3)]
    for friend in friends:
        refer(friend, referrer)
    assert _progress(task, referrer) == 0
    pay(friends[0], "10")
    pay(friends[1], "10")
    assert _progress(task, referrer) == 2
    assert not Reward.objects.filter(kind=RewardKind.FISSION).exists()
    pay(friends[2], "10")
    assert _progress(task, referrer) == 3
    progress = FissionProgress.objects.get(task=task, member=referrer)
    assert progress.reached_at is not None
    assert Reward.objects.get(kind=RewardKind.FISSION).points == 300


def test_only_direct_invitees_count(chain, pay, task):
    a, b, c, d = chain(4)
    for member in (c, d):
        pay(member, "10")
    assert _progress(task, a) == 0
    assert _progress(task, b) == 1


def test_refunds_under_the_goal_claw_the_reward_back(make_member, refer, pay, refund, task):
    referrer = make_member()
    orders = []
    for _ in range(3):
        friend = make_member()
        refer(friend, referrer)
        orders.append(pay(friend, "10"))
    assert Member.objects.get(pk=referrer.pk).points_balance == 300
    refund(orders[0])
    assert _progress(task, referrer) == 2
    reward = Reward.objects.get(kind=RewardKind.FISSION)
    assert reward.status == RewardStatus.CLAWED_BACK and reward.clawed_points == 300


def test_reaching_the_goal_again_after_a_clawback_pays_again(make_member, refer, pay, refund, task):
    referrer = make_member()
    orders = []
    for _ in range(3):
        friend = make_member()
        refer(friend, referrer)
        orders.append(pay(friend, "10"))
    refund(orders[0])
    assert FissionProgress.objects.get(task=task, member=referrer).reached_at is None
    assert Member.objects.get(pk=referrer.pk).points_balance == 0
    newcomer = make_member()
    refer(newcomer, referrer)
    pay(newcomer, "10")
    assert _progress(task, referrer) == 3
    rewards = list(Reward.objects.filter(kind=RewardKind.FISSION).order_by("pk"))
    assert [r.status for r in rewards] == [RewardStatus.CLAWED_BACK, RewardStatus.GRANTED]
    assert rewards[1].key == f"fission:{task.pk}:{referrer.pk}:2"
    assert Member.objects.get(pk=referrer.pk).points_balance == 300
    assert FissionProgress.objects.get(task=task, member=referrer).reached_at is not None
    # Once per reaching: recounting pays nothing more.
    fission_progress_refresh(member_id=referrer.pk)
    assert Reward.objects.filter(kind=RewardKind.FISSION).count() == 2


def test_a_reward_an_operator_rejected_is_not_paid_again(
    make_member, refer, pay, signup_task, operator
):
    from referrals.services.rewards import reward_reject

    referrer = make_member()
    refer(make_member(), referrer, device_id="dev-1")
    refer(make_member(), referrer, device_id="dev-1")
    held = Reward.objects.get(kind=RewardKind.FISSION)
    reward_reject(reward=held, actor=operator)
    refer(make_member(), referrer)
    assert list(Reward.objects.filter(kind=RewardKind.FISSION)) == [held]
    assert Member.objects.get(pk=referrer.pk).points_balance == 0


def test_after_the_end_nothing_more_counts(make_member, refer, pay, signup_task):
    referrer = make_member()
    refer(make_member(), referrer)
    FissionTask.objects.filter(pk=signup_task.pk).update(ends_at=timezone.now())
    refer(make_member(), referrer)
    assert _progress(signup_task, referrer) == 1
    assert not Reward.objects.exists()


def test_leaderboard_orders_by_friends_then_who_got_there_first(make_member, refer, signup_task):
    first, second, third = make_member(), make_member(), make_member()
    for referrer, n in ((first, 3), (second, 3), (third, 1)):
        for _ in range(n):
            refer(make_member(), referrer)
    board = list(selectors.leaderboard(signup_task))
    assert [(p.member_id, p.count) for p in board] == [
        (first.pk, 3),
        (second.pk, 3),
        (third.pk, 1),
    ]


def test_a_flagged_invitee_holds_the_task_reward(make_member, refer, signup_task):
    referrer = make_member()
    refer(make_member(), referrer, device_id="dev-1")
    refer(make_member(), referrer, device_id="dev-1")  # the second on the same device: flagged
    reward = Reward.objects.get(kind=RewardKind.FISSION)
    assert reward.status == RewardStatus.HELD
    assert Member.objects.get(pk=referrer.pk).points_balance == 0
