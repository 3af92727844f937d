"""Health checks for /healthz and the worker heartbeat that feeds them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from scrm.celery import app as celery_app

# A worker that has not beaten for this long is reported as not seen (beat runs every minute).
HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def heartbeat_record(*, hostname: str) -> str:
    """Store now as the last heartbeat of ``hostname``; returns the hostname."""
    from scrm.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:200], defaults={"beat_at": timezone.now()}
    )
    return hostname


def check_database() -> dict:
    """Run a trivial query on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the reason is reported, not raised
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "vendor": connection.vendor}


def check_broker() -> dict:
    """Open (and close) a connection to the Celery broker, failing fast."""
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "transport": str(transport)}


def check_workers() -> dict:
    """Report the freshest worker heartbeat. Informational: web can serve with workers down."""
    from scrm.models import WorkerHeartbeat

    try:
        last = WorkerHeartbeat.objects.order_by("-beat_at").first()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if last is None:
        return {"ok": False, "last_seen": None}
    fresh = timezone.now() - last.beat_at <= HEARTBEAT_STALE_AFTER
    return {"ok": fresh, "last_seen": last.beat_at.isoformat(), "hostname": last.hostname}


def health_report() -> tuple[bool, dict]:
    """Return (healthy, report). Healthy means the database and the broker answer."""
    database = check_database()
    broker = check_broker()
    workers = check_workers() if database["ok"] else {"ok": False}
    healthy = database["ok"] and broker["ok"]
    report = {
        "status": "ok" if healthy else "error",
        "database": database,
        "broker": broker,
        "workers": workers,
        "embedded": settings.IS_SQLITE and not settings.REDIS_URL,
    }
    return healthy, report
