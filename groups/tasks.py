"""Celery tasks of the groups app: thin wrappers around services."""

from celery import shared_task

# A layering run must end well inside Redis's visibility timeout (3600 s).
LAYERING_SOFT_TIME_LIMIT = 50 * 60
LAYERING_TIME_LIMIT = 55 * 60


@shared_task(name="groups.flash_groups_notify_due")
def flash_groups_notify_due() -> int:
    """Periodic: tell the members of flash groups that end soon (group.dissolving)."""
    from groups.services.flash import flash_groups_notify_due as notify

    return notify()


@shared_task(name="groups.flash_groups_dissolve_due")
def flash_groups_dissolve_due() -> int:
    """Periodic: dissolve the flash groups whose end has come, each exactly once."""
    from groups.services.flash import flash_groups_dissolve_due as dissolve

    return dissolve()


@shared_task(
    name="groups.layering_run",
    soft_time_limit=LAYERING_SOFT_TIME_LIMIT,
    time_limit=LAYERING_TIME_LIMIT,
)
def layering_run(run_id: int) -> int:
    """Place the members of an applied layering run; returns how many were placed."""
    from groups.services.layering import layering_run_execute

    run = layering_run_execute(run_id=run_id)
    return sum(row.get("placed", 0) for row in run.result) if run else 0


@shared_task(name="groups.layering_runs_redispatch_stale")
def layering_runs_redispatch_stale() -> int:
    """Periodic: re-enqueue applied runs whose message was lost or whose worker died."""
    from groups.services.layering import layering_runs_stale

    ids = layering_runs_stale()
    for run_id in ids:
        layering_run.delay(run_id)
    return len(ids)


@shared_task(name="groups.broadcasts_dispatch")
def broadcasts_dispatch() -> dict:
    """Periodic (and right after a broadcast is queued): send due group broadcasts."""
    from groups.services.broadcasts import broadcasts_dispatch as dispatch

    return dispatch()
