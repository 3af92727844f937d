"""Fission tasks (裂变任务): progress recomputed from referrals, rewards once per member."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from referrals.choices import FissionCounts, ReferralStatus, RewardKind, RewardStatus
from referrals.models import FissionProgress, FissionTask, Referral, Reward
from referrals.services.rewards import reward_claw_back, reward_create


def fission_counted(task: FissionTask, member_id: int):
    """The member's invitees that count for ``task``: referred inside the task's period, and
    for a purchase task also qualified (first order paid, not refunded) inside it."""
    referrals = Referral.objects.filter(
        referrer_id=member_id, attached_at__gte=task.starts_at, attached_at__lt=task.ends_at
    )
    if task.counts == FissionCounts.PURCHASE:
        return referrals.filter(
            status=ReferralStatus.QUALIFIED,
            qualified_at__gte=task.starts_at,
            qualified_at__lt=task.ends_at,
        )
    return referrals.exclude(status=ReferralStatus.MERGED)


def fission_reward_key(task: FissionTask, member_id: int, *, undone: int = 0) -> str:
    """``fission:<task>:<member>``; after ``undone`` rewards of the task were clawed back, the
    next one is ``fission:<task>:<member>:<undone + 1>`` (still once per time the goal is
    reached)."""
    key = f"{RewardKind.FISSION}:{task.pk}:{member_id}"
    return f"{key}:{undone + 1}" if undone else key


def fission_progress_refresh(
    *, member_id: int, now: datetime | None = None, task_ids: list[int] | None = None
) -> list[FissionProgress]:
    """Recount the member's progress on every running task (or on ``task_ids``), reward a
    reached goal once, and claw the reward back if refunds took the count under the goal
    again. Tasks past their end are frozen. Runs in the caller's transaction."""
    now = now or timezone.now()
    tasks = FissionTask.objects.filter(is_active=True, starts_at__lte=now)
    tasks = tasks.filter(pk__in=task_ids) if task_ids is not None else tasks.filter(ends_at__gt=now)
    done = []
    for task in tasks.select_related("reward_coupon"):
        FissionProgress.objects.bulk_create(
            [FissionProgress(task=task, member_id=member_id)], ignore_conflicts=True
        )
        # Lock first, count second: a concurrent refresh waits and then counts what this one
        # added, so the stored count never goes back to an older figure.
        progress = FissionProgress.objects.select_for_update().get(task=task, member_id=member_id)
        counted = fission_counted(task, member_id)
        progress.count = counted.count()
        reached = progress.count >= task.goal
        if reached and progress.reached_at is None:
            progress.reached_at = now
        elif not reached:
            # Back under the goal: reaching it again later is a new "got there" time.
            progress.reached_at = None
        progress.save(update_fields=["count", "reached_at", "updated_at"])
        earlier = Reward.objects.filter(kind=RewardKind.FISSION, task=task, member_id=member_id)
        if reached:
            # Paid again after a clawback (new friends made up for the refunds); not after an
            # operator rejected it, and never twice for one reaching (the progress row lock
            # orders concurrent refreshes, the key does the rest).
            if not earlier.filter(clawed_back_at__isnull=True).exists():
                flagged = counted.filter(~Q(flags=[]), cleared_at__isnull=True).exists()
                reward_create(
                    key=fission_reward_key(task, member_id, undone=earlier.count()),
                    kind=RewardKind.FISSION,
                    member_id=member_id,
                    points=task.reward_points,
                    coupon_template=task.reward_coupon,
                    held=flagged,
                    task=task,
                )
        else:
            earned = earlier.filter(status__in=[RewardStatus.GRANTED, RewardStatus.HELD]).first()
            if earned is not None:
                reward_claw_back(
                    reward=earned,
                    note=_("Friends' orders were refunded; the goal is no longer met."),
                )
        done.append(progress)
    return done
