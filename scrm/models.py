"""System records that belong to no business app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the periodic heartbeat task, one row per worker host."""

    hostname = models.CharField(_("worker"), max_length=200, unique=True)
    beat_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self):
        return f"{self.hostname} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class ApiKey(models.Model):
    """A key for a server client (shop backend, POS). Only a hash of the secret is stored."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=128, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self):
        return f"{self.name} ({self.prefix})"


class IdempotencyRecord(models.Model):
    """The stored answer to a POST sent with an Idempotency-Key, replayed on a retry."""

    client = models.CharField(max_length=64)
    key = models.CharField(max_length=128)
    endpoint = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key"),
        ]

    def __str__(self):
        return f"{self.client}:{self.key}"
