"""Import files hold phones and names, so they are not kept: the upload goes when its job has
finished, and a nightly cleanup deletes old problem files, the bad rows quoted on old job rows,
and stray files, after SCRM_IMPORT_FILE_RETENTION_DAYS."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from members import tasks
from members.models import ImportJob, ImportStatus
from members.services import import_jobs
from scrm.celery import app as celery_app

pytestmark = pytest.mark.django_db

WITH_A_BAD_ROW = "phone,name\n13812345678,王小美\n12345,坏行\n".encode()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SCRM_IMPORT_FILE_RETENTION_DAYS = 7
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: None)
    monkeypatch.setattr(tasks.events_dispatch, "delay", lambda ids: None)


def create(content: bytes = WITH_A_BAD_ROW, name="members.csv") -> ImportJob:
    stream = io.BytesIO(content)
    stream.name = name
    return import_jobs.import_job_create(kind="members", upload=stream)


def stored(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def test_the_upload_is_deleted_when_its_job_is_done():
    job = create()
    upload = job.file.name
    assert stored(upload)
    import_jobs.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert not stored(upload) and job.file.name == ""
    # The problems file stays for the operator to download, for the retention period.
    assert stored(job.errors_file.name)
    assert job.errors and job.errors[0][3] == "12345"


def test_the_upload_of_a_refused_file_is_deleted_too():
    job = create(b"PK\x03\x04binary", name="members.xlsx")
    upload = job.file.name
    import_jobs.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert not stored(upload) and job.file.name == ""


def test_a_job_the_sweep_gives_up_on_loses_its_upload_one_it_requeues_keeps_it():
    long_ago = timezone.now() - timedelta(minutes=30)
    doomed, retried = create(), create()
    ImportJob.objects.filter(pk=doomed.pk).update(
        status=ImportStatus.RUNNING, attempts=import_jobs.MAX_ATTEMPTS, heartbeat_at=long_ago
    )
    ImportJob.objects.filter(pk=retried.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=long_ago
    )
    import_jobs.import_jobs_redispatch_stale()
    doomed.refresh_from_db()
    retried.refresh_from_db()
    assert doomed.status == ImportStatus.FAILED and not doomed.file.name
    assert retried.status == ImportStatus.QUEUED and stored(retried.file.name)


def _finished(days_ago: float) -> ImportJob:
    job = create()
    import_jobs.import_job_run(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(
        finished_at=timezone.now() - timedelta(days=days_ago)
    )
    job.refresh_from_db()
    return job


def test_cleanup_deletes_problems_of_old_imports_only(operator_admin):
    old, recent = _finished(8), _finished(6)
    unfinished = create()
    old_problems = old.errors_file.name

    counts = tasks.import_files_cleanup.apply().get()

    assert counts == {"jobs": 1, "files": 1, "stray_files": 0}
    old.refresh_from_db()
    assert not stored(old_problems)
    assert (old.errors_file.name, old.errors) == ("", [])
    assert (old.bad_rows, old.error_count, old.created) == (1, 1, 1)  # the counts stay
    recent.refresh_from_db()
    assert stored(recent.errors_file.name) and recent.errors
    assert stored(unfinished.file.name)
    # Nothing left to do the next night.
    assert import_jobs.import_files_cleanup() == {"jobs": 0, "files": 0, "stray_files": 0}

    page = operator_admin.get(
        reverse("admin:members_importjob_change", args=[old.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "were deleted 7 days after it finished" in page.content.decode()


def test_cleanup_deletes_old_files_no_job_refers_to():
    stray_old = default_storage.save("imports/2020/01/members-lost.csv", ContentFile(b"phone\n1"))
    stray_new = default_storage.save("imports/2020/01/members-new.csv", ContentFile(b"phone\n1"))
    queued = create()
    ten_days_ago = (timezone.now() - timedelta(days=10)).timestamp()
    for name in (stray_old, queued.file.name):
        os.utime(default_storage.path(name), (ten_days_ago, ten_days_ago))

    assert import_jobs.import_files_cleanup()["stray_files"] == 1
    assert not stored(stray_old)
    assert stored(stray_new)
    assert stored(queued.file.name)  # old, but its job still needs it


def test_cleanup_runs_nightly():
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "members.import_files_cleanup"
    )
    assert entry["schedule"].hour == {2}
    assert "members.import_files_cleanup" in celery_app.tasks
