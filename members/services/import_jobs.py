"""CSV imports uploaded in the admin, run by a Celery worker instead of the web request.

The upload is stored (``ImportJob.file`` under MEDIA_ROOT) and its job enqueued after commit;
the worker claims the job with a conditional UPDATE (a redelivered or duplicate message finds it
claimed and does nothing), runs members.imports on the stored file, moves the job's heartbeat
after every batch, and stores the counts and every bad row. A beat-driven sweep re-sends jobs
whose message was lost and re-queues running jobs whose worker died; after MAX_ATTEMPTS the job
fails instead of looping. A job run again starts from the top of its file: imports are upserts
(orders are idempotent by external id), so rows written by the first attempt count as unchanged.

Uploads hold phone numbers and names, so they are not kept: the uploaded file is deleted as soon
as its job has finished (done or failed; a job the sweep may still run again keeps it), and a
daily cleanup (import_files_cleanup) deletes problem files, blanks the values quoted in the
first problems kept on the job row, and removes stray files, once they are older than
SCRM_IMPORT_FILE_RETENTION_DAYS.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
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
    if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(**fields):
        _upload_discard(job)


def _upload_discard(job: ImportJob) -> None:
    """Delete a finished job's uploaded file: it holds personal data, and nothing reads it
    again (a finished job is never run again; its counts and problems are on the row)."""
    name = job.file.name
    if not name:
        return
    ImportJob.objects.filter(pk=job.pk).update(file="")
    job.file.name = ""
    try:
        default_storage.delete(name)
    except OSError:
        # The nightly cleanup deletes files no job refers to.
        logger.warning("could not delete the upload %s of import job %s", name, job.pk)


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
    given_up_jobs = list(dead.filter(attempts__gte=MAX_ATTEMPTS))
    given_up = dead.filter(pk__in=[job.pk for job in given_up_jobs]).update(
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
        for job in ImportJob.objects.filter(
            pk__in=[job.pk for job in given_up_jobs], status=ImportStatus.FAILED
        ):
            _upload_discard(job)
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


# Where uploads and problem files are stored under MEDIA_ROOT (ImportJob's upload_to).
IMPORTS_DIR = "imports"


def import_files_cleanup(*, now=None) -> dict[str, int]:
    """Nightly: forget the personal data of imports finished more than
    SCRM_IMPORT_FILE_RETENTION_DAYS ago. Their problems file (and an upload, should one be left)
    is deleted and the first problems kept on the row are cleared (their reasons quote the bad
    values: phones, names); the counts stay. Files under the imports folder that no job refers
    to (an upload whose job was never saved) go too once that old. Jobs still queued or running
    keep their upload. Returns what was removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SCRM_IMPORT_FILE_RETENTION_DAYS)
    counts = {"jobs": 0, "files": 0, "stray_files": 0}
    expired = ImportJob.objects.filter(
        Q(file__gt="") | Q(errors_file__gt="") | ~Q(errors=[]),
        status__in=[ImportStatus.DONE, ImportStatus.FAILED],
        finished_at__lt=cutoff,
    )
    for job in expired.only("pk", "file", "errors_file").order_by("pk"):
        counts["files"] += _delete_files(job.file.name, job.errors_file.name)
        ImportJob.objects.filter(pk=job.pk).update(file="", errors_file="", errors=[])
        counts["jobs"] += 1
    counts["stray_files"] = _delete_stray_files(cutoff)
    if any(counts.values()):
        logger.info("import files cleanup: %s", counts)
    return counts


def _delete_files(*names: str) -> int:
    deleted = 0
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)
            deleted += 1
    return deleted


def _delete_stray_files(cutoff) -> int:
    """Files under the imports folder, older than ``cutoff``, that no job refers to."""
    referenced = set()
    for upload, problems in ImportJob.objects.values_list("file", "errors_file"):
        referenced.update(name for name in (upload, problems) if name)
    deleted = 0
    for name in _walk(IMPORTS_DIR):
        if name in referenced:
            continue
        try:
            if default_storage.get_modified_time(name) >= cutoff:
                continue
            default_storage.delete(name)
        except OSError:
            logger.warning("could not clean up %s", name, exc_info=True)
            continue
        deleted += 1
    return deleted


def _walk(folder: str):
    """Every file name below ``folder`` in the default storage."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _walk(f"{folder}/{sub}")
