"""CSV uploads in the admin run as import jobs on a Celery worker: upload → job queued → task
runs (eagerly here, after commit) → counts and bad rows on the job's page and as a CSV download;
duplicate messages, lost messages and dead workers."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from members import tasks
from members.models import AuditLog, ImportJob, ImportStatus, Member
from members.services import import_jobs
from tests import factories

pytestmark = pytest.mark.django_db

MEMBER_UPLOAD = reverse("admin:members_member_import")
ORDER_UPLOAD = reverse("admin:members_order_import")
JOBS = reverse("admin:members_importjob_changelist")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads and problem files go to a folder of this test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def sent(monkeypatch):
    """Celery messages sent, by task: import jobs are recorded (run them with ``run_sent``),
    event dispatches dropped (no handlers matter here, and nothing reaches a real broker)."""
    messages = {"imports": [], "events": []}
    monkeypatch.setattr(tasks.import_job_run, "delay", messages["imports"].append)
    monkeypatch.setattr(tasks.events_dispatch, "delay", messages["events"].append)
    return messages


def run_sent(sent) -> list:
    """What a worker does with the import messages sent so far: run each task eagerly."""
    results = []
    while sent["imports"]:
        job_id = sent["imports"].pop(0)
        results.append(tasks.import_job_run.apply(args=(job_id,), throw=True).get())
    return results


def upload(client, url, content: bytes, name="members.csv"):
    stream = io.BytesIO(content)
    stream.name = name
    return client.post(url, {"file": stream, "encoding": "utf-8"}, HTTP_ACCEPT_LANGUAGE="en")


def test_upload_queues_a_job_that_a_worker_runs(
    operator_admin, operator, store, sent, django_capture_on_commit_callbacks
):
    content = f"phone,name,store\n138 1234 5678,王小美,{store.code}\n12345,坏行,\n".encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(operator_admin, MEMBER_UPLOAD, content)

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:members_importjob_change", args=[job.pk])
    # Nothing imported in the request: the job waits for its message after commit.
    assert (job.status, job.kind, job.original_name) == (
        ImportStatus.QUEUED,
        "members",
        "members.csv",
    )
    assert job.created_by == operator
    assert sent["imports"] == [job.pk]
    assert not Member.objects.exists()

    page = operator_admin.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["refresh_seconds"]
    assert "Waiting for a worker" in page.content.decode()

    assert run_sent(sent) == ["done"]

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert (job.rows, job.created, job.updated, job.unchanged, job.bad_rows) == (2, 1, 0, 0, 1)
    assert job.started_at and job.finished_at and job.attempts == 1
    assert job.errors[0][0] == 3 and job.errors[0][1] == "phone"
    assert Member.objects.get(phone="+8613812345678").home_store == store
    assert AuditLog.objects.filter(action="members.import", actor=operator).exists()

    page = operator_admin.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.context["refresh_seconds"] is None
    assert "2 rows read: 1 created, 0 updated, 0 unchanged." in html
    assert "1 bad row was skipped" in html
    assert page.context["errors_shown"][0][0] == 3

    download = operator_admin.get(page.context["errors_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["line", "field", "reason", "value"]
    assert rows[1][:2] == ["3", "phone"]
    assert rows[1][3] == "12345"


def test_orders_upload_runs_as_a_job(operator_admin, sent, django_capture_on_commit_callbacks):
    member = factories.MemberFactory(phone="+8613812345678")
    content = (
        b"external_id,member_phone,paid_amount,paid_at\nA-1,13812345678,99.00,2024-05-01 10:00\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload(operator_admin, ORDER_UPLOAD, content, name="orders.csv")
    run_sent(sent)
    job = ImportJob.objects.get()
    assert (job.kind, job.status, job.created, job.error_count) == ("orders", "done", 1, 0)
    assert not job.errors_file
    member.refresh_from_db()
    assert member.order_count == 1


def test_an_unusable_file_fails_its_job_and_writes_nothing(
    operator_admin, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(operator_admin, MEMBER_UPLOAD, b"PK\x03\x04binary", name="members.xlsx")
    run_sent(sent)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED
    assert "nothing was written" in job.message and "XLSX" in job.message
    assert not Member.objects.exists()
    page = operator_admin.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    assert job.message in page.content.decode()


def test_a_duplicate_message_runs_the_job_once(sent, operator, django_capture_on_commit_callbacks):
    stream = io.BytesIO(b"phone\n13812345678\n")
    stream.name = "m.csv"
    with django_capture_on_commit_callbacks(execute=True):
        job = import_jobs.import_job_create(kind="members", upload=stream, actor=operator)
    sent["imports"].append(job.pk)  # redelivered by the broker
    assert run_sent(sent) == ["done", "skipped"]
    job.refresh_from_db()
    assert (job.attempts, job.created, job.unchanged) == (1, 1, 0)


def test_the_sweep_requeues_a_job_whose_worker_died(
    sent, operator, django_capture_on_commit_callbacks
):
    stream = io.BytesIO(b"phone\n13812345678\n")
    stream.name = "m.csv"
    job = import_jobs.import_job_create(kind="members", upload=stream, actor=operator)
    long_ago = timezone.now() - timedelta(minutes=30)
    # A worker claimed it, then was killed: the job says "running" and its heartbeat stopped.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=long_ago, queued_at=long_ago
    )
    fresh = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))
    ImportJob.objects.filter(pk=fresh.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.import_jobs_redispatch_stale.apply().get() == 1
    assert sent["imports"] == [job.pk]
    assert ImportJob.objects.get(pk=fresh.pk).status == ImportStatus.RUNNING  # still alive

    run_sent(sent)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.created) == (ImportStatus.DONE, 2, 1)


def test_the_sweep_gives_up_after_max_attempts_and_resends_lost_messages(sent, operator):
    long_ago = timezone.now() - timedelta(minutes=30)
    doomed = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))
    ImportJob.objects.filter(pk=doomed.pk).update(
        status=ImportStatus.RUNNING, attempts=import_jobs.MAX_ATTEMPTS, heartbeat_at=long_ago
    )
    lost = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))
    ImportJob.objects.filter(pk=lost.pk).update(queued_at=long_ago)
    waiting = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))

    assert import_jobs.import_jobs_redispatch_stale() == 1

    doomed.refresh_from_db()
    assert doomed.status == ImportStatus.FAILED and doomed.finished_at
    assert str(import_jobs.MAX_ATTEMPTS) in doomed.message
    assert ImportJob.objects.get(pk=lost.pk).queued_at > long_ago
    assert ImportJob.objects.get(pk=waiting.pk).status == ImportStatus.QUEUED


def test_a_running_job_shows_its_progress(operator_admin, operator):
    job = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, rows=500, rows_total=2000, heartbeat_at=timezone.now()
    )
    page = operator_admin.get(
        reverse("admin:members_importjob_change", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    html = page.content.decode()
    assert '<progress max="100" value="25">' in html
    assert "500 of 2000 rows" in html
    assert 'http-equiv="refresh"' in html


def test_operators_see_recent_jobs(operator_admin, operator):
    stream = io.BytesIO(b"phone\n")
    stream.name = "会员.csv"
    job = import_jobs.import_job_create(kind="members", upload=stream, actor=operator)
    import_jobs.import_job_create(kind="orders", upload=io.BytesIO(b"x\n"))

    page = operator_admin.get(MEMBER_UPLOAD)
    assert [j.pk for j in page.context["recent_jobs"]] == [job.pk]
    assert "会员.csv" in page.content.decode()

    listing = operator_admin.get(JOBS)
    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 2


def test_guides_see_no_import_jobs(guide_admin):
    job = import_jobs.import_job_create(kind="members", upload=io.BytesIO(b"phone\n"))
    assert guide_admin.get(JOBS).status_code == 403
    assert guide_admin.get(
        reverse("admin:members_importjob_change", args=[job.pk])
    ).status_code in (
        302,
        403,
    )
    assert (
        guide_admin.get(reverse("admin:members_importjob_errors", args=[job.pk])).status_code == 403
    )


def test_upload_refuses_an_unknown_encoding(operator_admin):
    stream = io.BytesIO(b"phone\n")
    stream.name = "m.csv"
    response = operator_admin.post(MEMBER_UPLOAD, {"file": stream, "encoding": "latin-1"})
    assert response.status_code == 200
    assert response.context["form"].errors["encoding"]
    assert not ImportJob.objects.exists()
