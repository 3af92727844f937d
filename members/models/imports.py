from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    MEMBERS = "members", _("members")
    ORDERS = "orders", _("orders")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class ImportJob(models.Model):
    """A CSV file uploaded in the admin and imported by a Celery worker (members.services.
    import_jobs): its status, progress, counts and bad rows. Written only by that service."""

    kind = models.CharField(_("kind"), max_length=10, choices=ImportKind)
    # The upload under MEDIA_ROOT (never served by URL: it holds personal data).
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", max_length=300)
    original_name = models.CharField(_("file name"), max_length=200)
    encoding = models.CharField(_("encoding"), max_length=20, default="utf-8")
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus, default=ImportStatus.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True, db_index=True)
    # When its message was last sent to the broker; a sweep re-sends a job left queued.
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # Moved forward after every batch: a running job whose heartbeat stops had its worker die.
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    rows_total = models.PositiveIntegerField(_("rows in file"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("rows read"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    bad_rows = models.PositiveIntegerField(_("bad rows"), default=0)
    error_count = models.PositiveIntegerField(_("problems found"), default=0)
    # The first problems as [line, field, reason, value] for the job page; all of them are in
    # errors_file.
    errors = models.JSONField(_("first problems"), default=list, blank=True)
    errors_file = models.FileField(
        _("problems file"), upload_to="imports/%Y/%m/", max_length=300, blank=True
    )
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    # Why a failed job failed (a refused file, a stopped worker), shown to the operator.
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("CSV import")
        verbose_name_plural = _("CSV imports")
        indexes = [
            models.Index(
                fields=["status", "heartbeat_at"],
                name="importjob_unfinished",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.original_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)

    @property
    def percent(self) -> int | None:
        """How far the worker got, 0-100; None before the file was counted."""
        if self.status == ImportStatus.DONE:
            return 100
        if not self.rows_total:
            return None
        return min(100, self.rows * 100 // self.rows_total)
