"""CSV imports uploaded in the admin, run by a Celery worker instead of the web request.

The upload is stored (``ImportJob.file`` under MEDIA_ROOT) and its job enqueued after commit;
the worker claims the job with a conditional UPDATE (a redelivered or duplicate message finds it
claimed and does nothing), runs members.imports on the stored file, moves the job's heartbeat
after every batch, and stores the counts and every bad row. A beat-driven sweep re-sends jobs
whose message was lost and re-queues running jobs whose worker died; after MAX_ATTEMPTS the job
fails instead of looping. A job run again starts from the top of its file: imports are upserts
(orders are idempotent by external id), so rows written by the first attempt count as unchanged.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from members.imports import CsvFormatError, members_import_csv, orders_import_csv
from members.imports.csvfile import ENCODINGS
from members.imports.report import ErrorsCsvWriter, ImportReport
from members.models import ImportJob, ImportKind, ImportStatus

logger = logging.getLogger(__name__)

RUNNERS = {ImportKind.MEMBERS: members_import_csv, ImportKind.ORDERS: orders_import_csv}
# Problems kept on the job row for its page; the problems file holds all of them.
ERRORS_KEPT = 1000
# A running job whose heartbeat is older than this lost its worker (a batch takes seconds).
STALE_RUNNING = timedelta(minutes=10)
# A queued job not started after this may have lost its message: send it again (harmless, the
# claim lets one message run it).
STALE_QUEUED = timedelta(minutes=5)
# Runs of one job before the sweep gives up on it (a file that kills its worker every time).
MAX_ATTEMPTS = 3


def _enqueue_on_commit(job_id: int) -> None:
    from members.tasks import import_job_run as task

    transaction.on_commit(lambda: task.delay(job_id))


@transaction.atomic
def import_job_create(*, kind: str, upload, encoding: str = "utf-8", actor=None) -> ImportJob:
    """Store an uploaded CSV file as a queued import job and start it on a worker after commit.

    ``upload`` is a Django File (an UploadedFile from a form). The file is checked by the
    worker, not here: a refused file fails the job with the reason, writing nothing.
    """
    if kind not in ImportKind.values:
        raise ValidationError({"kind": [_("Unknown import kind.")]})
    if (encoding or "").lower() not in ENCODINGS:
        raise ValidationError({"encoding": [_("Unsupported encoding; use UTF-8 or GBK.")]})
    name = os.path.basename(getattr(upload, "name", "") or "") or f"{kind}.csv"
    job = ImportJob(
        kind=kind,
        encoding=encoding.lower(),
        original_name=name[:200],
        created_by=actor if getattr(actor, "pk", None) else None,
        queued_at=timezone.now(),
    )
    job.file.save(f"{kind}-{timezone.now():%Y%m%d-%H%M%S}.csv", upload, save=False)
    job.save()
    _enqueue_on_commit(job.pk)
    return job


def _claim(job_id: int) -> ImportJob | None:
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        attempts=F("attempts") + 1,
        rows=0,
        rows_total=None,
        message="",
    )
    return ImportJob.objects.select_related("created_by").get(pk=job_id) if claimed else None


def _finish(job: ImportJob, *, status: str, report: ImportReport | None, message: str = ""):
    fields = {"status": status, "finished_at": timezone.now(), "message": message}
    if report is not None:
        fields.update(
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            bad_rows=report.bad_rows,
            error_count=report.error_count,
            errors=[[e.line, e.field, e.reason, e.value] for e in report.errors[:ERRORS_KEPT]],
            warnings=list(report.warnings),
        )
    for name, value in fields.items():
        setattr(job, name, value)
    # Only the run that holds the claim writes the result.
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(**fields)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job to the end; returns it, or None when another run has it (or had
    it). Not one transaction: the import commits batch by batch, so progress is visible and a
    bad row never takes the good rows with it. Raises only on an unexpected error, after
    marking the job failed."""
    job = _claim(job_id)
    if job is None:
        return None
    run = RUNNERS[job.kind]

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
            rows=done, rows_total=total, heartbeat_at=timezone.now()
        )

    # Every problem goes to a CSV file as it is found (the row keeps only the first ones).
    with tempfile.TemporaryFile() as problems_file:
        problems = io.TextIOWrapper(problems_file, encoding="utf-8-sig", newline="")
        try:
            with job.file.open("rb") as stream:
                report = run(
                    stream=stream,
                    actor=job.created_by,
                    encoding=job.encoding,
                    name=job.original_name,
                    progress=progress,
                    on_error=ErrorsCsvWriter(problems),
                )
        except CsvFormatError as exc:
            _finish(
                job,
                status=ImportStatus.FAILED,
                report=None,
                message=_("The file was not imported, nothing was written: %(reason)s")
                % {"reason": " ".join(exc.messages)},
            )
            return job
        except SoftTimeLimitExceeded:
            job.refresh_from_db(fields=["rows"])
            _finish(
                job,
                status=ImportStatus.FAILED,
                report=None,
                message=_(
                    "The import took too long and was stopped after %(rows)d rows; those rows "
                    "were kept. Import large files with the import command."
                )
                % {"rows": job.rows},
            )
            return job
        except Exception:
            logger.exception("import job %s failed", job.pk)
            _finish(
                job,
                status=ImportStatus.FAILED,
                report=None,
                message=_(
                    "The import stopped on an unexpected error; rows already read were kept."
                ),
            )
            raise
        finally:
            problems.flush()
            problems.detach()
        if report.error_count:
            problems_file.seek(0)
            job.errors_file.save(
                f"{job.kind}-{job.pk}-problems.csv", File(problems_file), save=False
            )
            ImportJob.objects.filter(pk=job.pk).update(errors_file=job.errors_file.name)
    _finish(job, status=ImportStatus.DONE, report=report)
    return job


def import_jobs_redispatch_stale(*, now=None) -> int:
    """Periodic sweep: re-send queued jobs whose message may be lost, put running jobs whose
    worker died back in the queue, and fail those that already had MAX_ATTEMPTS runs.
    Returns how many jobs were re-sent."""
    now = now or timezone.now()
    dead = ImportJob.objects.filter(
        status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_RUNNING
    )
    given_up = dead.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=ImportStatus.FAILED,
        finished_at=now,
        message=_(
            "The worker stopped %(n)d times while running this import; it was given up. "
            "Rows already read were kept."
        )
        % {"n": MAX_ATTEMPTS},
    )
    if given_up:
        logger.warning("gave up %d import jobs after %d attempts", given_up, MAX_ATTEMPTS)
    resend = list(
        ImportJob.objects.filter(status=ImportStatus.QUEUED, queued_at__lt=now - STALE_QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        requeued = list(
            dead.filter(attempts__lt=MAX_ATTEMPTS).order_by("pk").values_list("pk", flat=True)
        )
        # Conditional on the state just read: a job that moved on since is left alone.
        requeued = [
            pk
            for pk in requeued
            if ImportJob.objects.filter(
                pk=pk, status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_RUNNING
            ).update(status=ImportStatus.QUEUED, queued_at=now)
        ]
        ImportJob.objects.filter(pk__in=resend, status=ImportStatus.QUEUED).update(queued_at=now)
        for pk in (*requeued, *resend):
            _enqueue_on_commit(pk)
    if requeued:
        logger.warning("re-queued %d import jobs whose worker stopped", len(requeued))
    return len(requeued) + len(resend)
