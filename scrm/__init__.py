"""The SCRM project package: settings, the Celery app, the URL root and shared API pieces."""

from .celery import app as celery_app

__all__ = ["celery_app"]
