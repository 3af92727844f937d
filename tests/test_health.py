"""/healthz: 200 when the database and the broker answer, 503 with the reason when one does not."""

import pytest
from django.db import OperationalError
from kombu import Connection

from scrm import health

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: the connection is refused at once, like a Redis that is down.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


class BrokenConnection:
    """Stands in for django.db.connection when the database server is gone."""

    vendor = "postgresql"

    def cursor(self):
        raise OperationalError("connection to server at 127.0.0.1:5432 failed: Connection refused")


def test_healthy_when_database_and_broker_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_database_down_gives_503_with_the_reason(client, monkeypatch):
    monkeypatch.setattr(health, "connection", BrokenConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"]["ok"] is False
    assert body["database"]["error"].startswith("OperationalError: connection to server")
    assert body["broker"]["ok"] is True


def test_broker_down_gives_503_with_the_reason(client, monkeypatch):
    monkeypatch.setattr(
        health.celery_app,
        "connection_for_write",
        lambda *args, **kwargs: Connection(UNREACHABLE_BROKER),
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False
    assert "Connection refused" in body["broker"]["error"]


def test_workers_are_reported_from_the_heartbeat(client):
    assert client.get("/healthz").json()["workers"] == {"ok": False, "last_seen": None}

    health.heartbeat_record(hostname="celery@test-host")

    workers = client.get("/healthz").json()["workers"]
    assert workers["ok"] is True
    assert workers["hostname"] == "celery@test-host"


def test_healthz_answers_plain_http_on_a_production_host(client, settings):
    """The container health check calls http://127.0.0.1:8000/healthz with the public Host."""
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

    response = client.get("/healthz", HTTP_HOST="crm.example.com")

    assert response.status_code == 200


def test_healthz_is_get_only(client):
    assert client.post("/healthz").status_code == 405
