"""The CSV import jobs: the list of recent uploads for operators, and each job's page with its
status, progress, counts and bad rows (downloadable as CSV). Jobs are made by the upload pages
(members.admin.member_page.CsvImportView) and written by members.services.import_jobs."""

from __future__ import annotations

import csv
import io

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from members.admin.base import ReadOnlyAdmin, guide_restricted
from members.imports.report import ErrorsCsvWriter
from members.models import ImportJob, ImportKind
from members.services.import_jobs import ERRORS_KEPT

# Problems listed on the job's page; the download has all of them.
ERRORS_SHOWN = 200
# The job's page reloads itself every few seconds until the job has finished.
REFRESH_SECONDS = 3


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "original_name",
        "status",
        "progress",
        "created",
        "updated",
        "unchanged",
        "bad_rows",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_display_links = ("id", "original_name")
    list_filter = ("kind", "status")
    list_select_related = ("created_by",)
    search_fields = ("original_name",)
    ordering = ("-id",)
    list_per_page = 50
    change_form_template = "admin/members/importjob/change_form.html"
    fieldsets = (
        (None, {"fields": ("kind", "original_name", "encoding", "status", "message")}),
        (
            _("Counts"),
            {"fields": ("rows_total", "rows", "created", "updated", "unchanged", "bad_rows")},
        ),
        (
            _("When"),
            {
                "fields": (
                    "created_by",
                    "created_at",
                    "started_at",
                    "heartbeat_at",
                    "finished_at",
                    "attempts",
                )
            },
        ),
    )

    def has_view_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return not guide_restricted(request) and super().has_module_permission(request)

    @admin.display(description=_("progress"))
    def progress(self, obj):
        percent = obj.percent
        return "-" if percent is None else f"{percent}%"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        extra = {}
        if job is not None:
            errors = job.errors[:ERRORS_SHOWN]
            extra = {
                "job": job,
                "errors_shown": errors,
                "errors_more": job.error_count > len(errors),
                "errors_url": reverse("admin:members_importjob_errors", args=[job.pk])
                if job.error_count
                else "",
                "upload_url": reverse(
                    "admin:members_member_import"
                    if job.kind == ImportKind.MEMBERS
                    else "admin:members_order_import"
                ),
                "refresh_seconds": None if job.is_finished else REFRESH_SECONDS,
                "retention_days": settings.SCRM_IMPORT_FILE_RETENTION_DAYS,
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view(self.errors_view)
        return [
            path("<path:object_id>/errors.csv", view, name="members_importjob_errors"),
            *super().get_urls(),
        ]

    def errors_view(self, request, object_id):
        """Every bad row of the job as CSV (line, field, reason, value)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None:
            raise Http404
        filename = f"{job.kind}-import-{job.pk}-problems.csv"
        if job.errors_file:
            return FileResponse(
                job.errors_file.open("rb"),
                as_attachment=True,
                filename=filename,
                content_type="text/csv; charset=utf-8",
            )
        # No file (a job from before it had one, or none kept): the rows the job keeps.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(ErrorsCsvWriter.HEADER)
        writer.writerows(job.errors[:ERRORS_KEPT])
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
