"""Celery tasks of the members app: thin wrappers around services."""

from celery import shared_task

from members import events


@shared_task(name="members.events_dispatch")
def events_dispatch(event_ids: list[int]) -> int:
    """Run the registered handlers for a chunk of events."""
    return events.events_dispatch_now(event_ids=event_ids)


@shared_task(name="members.events_redispatch_stale")
def events_redispatch_stale() -> int:
    """Periodic sweep for events whose dispatch message was lost."""
    return events.events_redispatch_stale()


@shared_task(name="members.points_expire_due")
def points_expire_due() -> int:
    """Periodic: expire earned points whose validity has ended."""
    from members.services.benefits import points_expire_due as expire

    return expire()


@shared_task(name="members.coupons_expire_due")
def coupons_expire_due() -> int:
    """Periodic: mark issued coupons past their date as expired."""
    from members.services.benefits import coupons_expire_due as expire

    return expire()


@shared_task(name="members.member_metrics_refresh", soft_time_limit=30 * 60, time_limit=35 * 60)
def member_metrics_refresh() -> dict:
    """Nightly: recompute every active member's RFM scores and lifecycle stage."""
    from members.services.metrics import member_metrics_refresh as refresh

    return refresh()


@shared_task(name="members.member_value_refresh", soft_time_limit=30 * 60, time_limit=35 * 60)
def member_value_refresh() -> dict:
    """Nightly: fit the value models on the history up to now and score every member."""
    from members.services.value import member_value_refresh as refresh

    return refresh()


# An import must end well inside Redis's visibility timeout (3600 s) or Redis hands the message
# to a second worker mid-run (harmless: the claim refuses it, but the time is wasted).
IMPORT_SOFT_TIME_LIMIT = 50 * 60
IMPORT_TIME_LIMIT = 55 * 60


@shared_task(
    name="members.import_job_run",
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT,
    time_limit=IMPORT_TIME_LIMIT,
)
def import_job_run(job_id: int) -> str:
    """Run a CSV import uploaded in the admin (members.services.import_jobs)."""
    from members.services.import_jobs import import_job_run as run

    job = run(job_id=job_id)
    return job.status if job is not None else "skipped"


@shared_task(name="members.import_jobs_redispatch_stale")
def import_jobs_redispatch_stale() -> int:
    """Periodic: re-send import jobs whose message was lost or whose worker died."""
    from members.services.import_jobs import import_jobs_redispatch_stale as sweep

    return sweep()


@shared_task(name="members.import_files_cleanup")
def import_files_cleanup() -> dict:
    """Nightly: delete problem files and bad rows of old imports, and stray upload files."""
    from members.services.import_jobs import import_files_cleanup as cleanup

    return cleanup()


@shared_task(name="members.rule_tags_refresh", soft_time_limit=20 * 60, time_limit=25 * 60)
def rule_tags_refresh() -> dict:
    """Periodic: re-materialise every rule tag (members.services.segments)."""
    from members.services.segments import rule_tags_refresh as refresh

    return refresh()
