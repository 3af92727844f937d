"""Guide tasks: WeCom 1:1 messages handed to the owning guide, who sends and confirms them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.channels.base import Message
from campaigns.models import GuideTask, GuideTaskStatus, Touchpoint
from members.models import Guide


def guide_tasks_hand_over(*, messages: list[Message], waiting: bool) -> dict[str, GuideTask]:
    """The task of each message's touchpoint, created on first sight (a repeated send of the
    same touchpoint finds the one it made: the unique touchpoint makes it so under races too).
    ``waiting``: new tasks wait for WeCom before the guide sees them. Returns {key: task}."""
    touchpoints = dict(
        Touchpoint.objects.filter(key__in=[m.key for m in messages]).values_list("key", "pk")
    )
    expires_at = timezone.now() + timedelta(hours=settings.SCRM_GUIDE_TASK_TTL_HOURS)
    status = GuideTaskStatus.WAITING if waiting else GuideTaskStatus.PENDING
    GuideTask.objects.bulk_create(
        [
            GuideTask(
                touchpoint_id=touchpoints[m.key],
                guide_id=m.guide_id,
                member_id=m.member_id,
                text=m.body,
                status=status,
                expires_at=expires_at,
            )
            for m in messages
            if m.key in touchpoints
        ],
        ignore_conflicts=True,
    )
    tasks = GuideTask.objects.filter(touchpoint_id__in=touchpoints.values())
    by_touchpoint = {task.touchpoint_id: task for task in tasks}
    return {key: by_touchpoint[pk] for key, pk in touchpoints.items() if pk in by_touchpoint}


def guide_tasks_mark(
    *, tasks: list[GuideTask], status: str, wecom_msgid: str = "", error: str = ""
) -> None:
    """Record what WeCom said about ``tasks`` (accepted with a task id, or refused)."""
    GuideTask.objects.filter(pk__in=[t.pk for t in tasks]).update(
        status=status, wecom_msgid=wecom_msgid[:64], error=error[:300]
    )
    for task in tasks:
        task.status, task.wecom_msgid, task.error = status, wecom_msgid[:64], error[:300]


def guide_tasks_open(*, guide: Guide, now: datetime | None = None):
    """The tasks ``guide`` still has to send, oldest first."""
    now = now or timezone.now()
    return GuideTask.objects.filter(
        guide=guide, status=GuideTaskStatus.PENDING, expires_at__gt=now
    ).order_by("id")


@transaction.atomic
def guide_task_confirm(*, task: GuideTask, now: datetime | None = None) -> GuideTask:
    """The guide sent the message. Confirming again changes nothing; an expired or refused task
    cannot be confirmed (ValidationError, code "not_open")."""
    now = now or timezone.now()
    task = GuideTask.objects.select_for_update().get(pk=task.pk)
    if task.status == GuideTaskStatus.CONFIRMED:
        return task
    if task.status == GuideTaskStatus.EXPIRED or task.expires_at <= now:
        raise ValidationError(_("This task has expired."), code="not_open")
    if task.status != GuideTaskStatus.PENDING:
        raise ValidationError(
            _("This task cannot be confirmed: %(status)s.")
            % {"status": GuideTaskStatus(task.status).label},
            code="not_open",
        )
    task.status, task.confirmed_at = GuideTaskStatus.CONFIRMED, now
    task.save(update_fields=["status", "confirmed_at"])
    return task


def guide_tasks_expire(*, now: datetime | None = None) -> int:
    """Mark tasks nobody sent in time as expired (the periodic job); returns how many."""
    now = now or timezone.now()
    return GuideTask.objects.filter(
        status__in=[GuideTaskStatus.PENDING, GuideTaskStatus.WAITING], expires_at__lte=now
    ).update(status=GuideTaskStatus.EXPIRED)
