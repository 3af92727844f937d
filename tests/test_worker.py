"""A real Celery worker process consumes a task sent through the real broker.

The worker runs as a subprocess on the test database, so the task's write is visible here.
Embedded default: kombu's filesystem transport in a fresh folder shared by both sides. With
REDIS_URL set: Redis. A queue and worker name unique to this run keep stale messages and other
workers (a `make run` on the same machine, say) out of the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue

from scrm.celery import app as celery_app
from scrm.models import WorkerHeartbeat
from scrm.tasks import heartbeat

pytestmark = pytest.mark.worker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60


def worker_database_url() -> str:
    """DATABASE_URL for the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        # A file (settings give SQLite a TEST NAME on disk) so another process can open it.
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        auth = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or "localhost"
        port = db["PORT"] or "5432"
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    pytest.skip(f"no DATABASE_URL recipe for {connection.vendor}")


def filesystem_broker_options(folder: Path) -> dict:
    """Transport options that put every folder of the filesystem broker under ``folder``."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
    }


def remove_redis_queue(queue_name: str) -> None:
    """Delete what the run left in Redis for its one-off queue (best effort)."""
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(
            queue_name,
            f"_kombu.binding.{queue_name}",
            f"_kombu.binding_permanent.{queue_name}",
        )
        client.close()
    except redis.RedisError:
        pass


def worker_start(
    *, env: dict, queue: str, hostname: str, log, loglevel: str = "WARNING"
) -> subprocess.Popen:
    """A real Celery worker process on one queue (solo pool, no cluster chatter, which only
    slows start-up), writing its output to ``log``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scrm",
            "worker",
            "--pool=solo",
            f"--loglevel={loglevel}",
            f"--queues={queue}",
            f"--hostname={hostname}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown, then kill if the worker does not leave in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_worker_runs_the_heartbeat_task(transactional_db, tmp_path):
    run_id = uuid.uuid4().hex[:10]
    queue_name = f"scrm-test-{run_id}"
    nodename = f"test-{run_id}@localhost"
    uses_redis = bool(settings.REDIS_URL)

    env = dict(os.environ)  # includes what settings read from .env (DEBUG, SECRET_KEY)
    env.update({"DATABASE_URL": worker_database_url(), "PYTHONUNBUFFERED": "1"})
    transport_options = {}
    if not uses_redis:
        broker_dir = tmp_path / "broker"
        transport_options = filesystem_broker_options(broker_dir)
        env["CELERY_FS_DIR"] = str(broker_dir)

    # Publish before the worker is up: the message waits in the declared queue either way.
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    with celery_app.connection_for_write(transport_options=transport_options) as conn:
        queue(conn.default_channel).declare()
        with conn.Producer() as producer:
            heartbeat.apply_async(queue=queue_name, producer=producer)

    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = worker_start(
            env=env, queue=queue_name, hostname=nodename, log=log, loglevel="INFO"
        )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        row = None
        while row is None and time.monotonic() < deadline:
            if worker.poll() is not None:
                break
            row = WorkerHeartbeat.objects.filter(hostname=nodename).first()
            if row is None:
                time.sleep(0.25)
        log_tail = log_path.read_text()[-3000:]
        assert worker.poll() is None, f"worker exited with {worker.returncode}:\n{log_tail}"
        assert row is not None, f"no heartbeat after {WAIT_SECONDS} s; worker log:\n{log_tail}"
        assert row.beat_at is not None
        assert WorkerHeartbeat.objects.count() == 1
    finally:
        stop(worker)
        if uses_redis:
            remove_redis_queue(queue_name)
