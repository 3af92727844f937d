"""Celery tasks of the campaign engine: thin loops around the services.

Nothing waits on the broker: due times live in the database (Touchpoint.send_after,
Campaign.next_run_at) and the per-minute tick starts what is due, so a lost or repeated message
delays work by at most a minute and never doubles it (RELIABILITY.md).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import transaction

# Long loops end well inside the broker's visibility timeout and Celery's time limits; the next
# message (or tick) carries on where they stopped. A fan-out runs in one task for up to this
# long (a million members take seconds) and starts senders after its first chunk, so sending
# overlaps the rest of it on the other workers; a fan-out that goes on queues itself again.
BUDGET_SECONDS = settings.SCRM_TASK_BUDGET_SECONDS


@shared_task(name="campaigns.tick")
def campaigns_tick() -> dict:
    """Every minute: start due runs, resume fan-outs, hand back stale claims, start senders."""
    from campaigns.models import Run, RunStatus
    from campaigns.services.dispatch import due_count, touchpoints_reclaim_stale
    from campaigns.services.fanout import runs_finish, runs_start_due

    started = runs_start_due()
    fanning = list(Run.objects.filter(status=RunStatus.FANNING_OUT).values_list("pk", flat=True))
    for run_id in fanning:
        transaction.on_commit(lambda run_id=run_id: run_fan_out.delay(run_id))
    reclaimed = touchpoints_reclaim_stale()
    due = due_count()
    if due:
        dispatchers_start()
    finished = runs_finish()
    return {
        "started": len(started),
        "fanning_out": len(fanning),
        "reclaimed": reclaimed,
        "due": due,
        "finished": finished,
    }


def dispatchers_start(count: int | None = None) -> None:
    """Queue ``count`` (SCRM_DISPATCH_PARALLEL) sending loops (after commit)."""
    for _ in range(settings.SCRM_DISPATCH_PARALLEL if count is None else count):
        transaction.on_commit(dispatch.delay)


@shared_task(name="campaigns.run_fan_out")
def run_fan_out(run_id: int) -> bool:
    """Fan a run out for up to BUDGET_SECONDS, queueing itself again until the audience is
    exhausted. Senders start as soon as the first touchpoints are committed: all but one of
    SCRM_DISPATCH_PARALLEL (at least one) to run beside the fan-out on the other workers, and
    one more when this fan-out ends and its worker is free."""
    from campaigns.models import Run
    from campaigns.services.fanout import run_fan_out as fan_out

    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return True

    def senders_beside() -> None:
        dispatchers_start(max(1, settings.SCRM_DISPATCH_PARALLEL - 1))

    resumed = run.planned > 0  # touchpoints are waiting already
    if resumed:
        senders_beside()
    done = fan_out(
        run=run, budget_seconds=BUDGET_SECONDS, on_planned=None if resumed else senders_beside
    )
    if done:
        dispatchers_start(1)
    else:
        transaction.on_commit(lambda: run_fan_out.delay(run_id))
    return done


@shared_task(name="campaigns.dispatch")
def dispatch() -> int:
    """Send due touchpoints batch after batch for up to BUDGET_SECONDS; queue itself again
    when work remains (the tick would too, a minute later)."""
    from campaigns.services.dispatch import dispatch_until_done, due_count

    total = dispatch_until_done(budget_seconds=BUDGET_SECONDS)
    if due_count():
        transaction.on_commit(dispatch.delay)
    return total


@shared_task(name="campaigns.send_now")
def send_now(touchpoint_ids: list[int]) -> dict:
    """Send event-triggered touchpoints due at once (welcome messages), on the priority queue.
    A lost message costs nothing but time: the rows stay due and the dispatcher sends them."""
    from campaigns.services.dispatch import touchpoints_send_now

    return touchpoints_send_now(ids=touchpoint_ids)


@shared_task(name="campaigns.guide_tasks_expire")
def guide_tasks_expire() -> int:
    """Hourly: guide tasks nobody sent in time become expired."""
    from campaigns.services.guide_tasks import guide_tasks_expire as expire

    return expire()
