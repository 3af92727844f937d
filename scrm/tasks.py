"""Periodic system tasks."""

from celery import shared_task

from scrm import health


@shared_task(name="scrm.tasks.heartbeat")
def heartbeat() -> str:
    """Record that a worker is alive and consuming; /healthz reports the age of the last beat."""
    return health.heartbeat_record(hostname=heartbeat.request.hostname or "unknown")
