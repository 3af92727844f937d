"""Redis restarted in the middle of a campaign (RELIABILITY.md): the worker reconnects, what the
broker lost is found again in the outbox, and no member is contacted twice.

The test runs its own redis-server on a free port, with no persistence, so the restart loses
every queued message, as a crashed Redis without AOF would. It skips where redis-server is
not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from campaigns.models import Touchpoint, TouchpointState
from campaigns.services.campaigns import campaign_create, campaign_launch
from campaigns.services.dispatch import due_count, touchpoints_reclaim_stale
from campaigns.services.fanout import run_fan_out, runs_start_due
from members.models import Member
from scrm.celery import app as celery_app
from tests.campaigns.test_worker_kill import Provider
from tests.test_worker import stop, worker_database_url, worker_start

pytestmark = pytest.mark.worker

MEMBERS = 12_000
REDIS = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("redis-server did not start")


@pytest.mark.skipif(REDIS is None, reason="needs redis-server")
def test_a_redis_restart_mid_campaign_loses_no_member_and_doubles_none(
    transactional_db, tmp_path, settings
):
    provider = Provider()
    settings.SCRM_WEBHOOK_URL = provider.url
    settings.SCRM_WEBHOOK_SECRET = "s3cret"
    settings.SCRM_QUIET_HOURS = []
    settings.SCRM_FREQUENCY_CAPS = {"all": [], "channels": {}}
    Member.objects.bulk_create(
        [Member(name=f"m{n}", phone=f"+86136{n:08d}") for n in range(MEMBERS)], batch_size=5000
    )
    campaign = campaign_create(
        name="Redis restart",
        kind="one_off",
        channel="webhook",
        steps=[{"contents": {"A": {"body": "hello {{ member_name }}"}}}],
    )
    now = timezone.now()
    campaign_launch(campaign=campaign, now=now)
    (run,) = runs_start_due(now=now)
    assert run_fan_out(run=run)

    port = _free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    queue_name = f"scrm-redis-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            "CELERY_QUEUE": queue_name,
            "SCRM_WEBHOOK_URL": provider.url,
            "SCRM_WEBHOOK_SECRET": "s3cret",
            "SCRM_QUIET_HOURS": "",
            "SCRM_DISPATCH_BATCH": "200",
            "SCRM_DISPATCH_CLAIM_TIMEOUT": "5",
            # Short tasks that queue their successors: the chain breaks with Redis, so the
            # rest of the campaign needs the reconnected worker and the reconciling tick.
            "SCRM_TASK_BUDGET_SECONDS": "1",
        }
    )
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)

    def send_dispatch():
        """What the minute tick does when rows are due: queue a sender (on this Redis)."""
        with Connection(redis_url) as conn:
            queue(conn.default_channel).declare()
            with conn.Producer() as producer:
                celery_app.send_task(
                    "campaigns.dispatch",
                    queue=queue_name,
                    routing_key=queue_name,
                    producer=producer,
                )

    def sent() -> int:
        return Touchpoint.objects.filter(campaign=campaign, state=TouchpointState.SENT).count()

    redis = _start_redis(port)
    log = (tmp_path / "worker.log").open("w")

    def start_worker() -> subprocess.Popen:
        return worker_start(
            env=env, queue=queue_name, hostname=f"redis-restart-{queue_name}@localhost", log=log
        )

    crashes: list[str] = []

    def supervise(worker: subprocess.Popen) -> subprocess.Popen:
        """What the deployment's supervisor does (compose: restart: unless-stopped): a worker
        that exited is started again. kombu's Redis transport can raise while a worker closes
        a channel whose connection Redis dropped (celery/kombu#582, #970): the worker exits
        and must not take the campaign with it. More than two exits is a failure."""
        if worker.poll() is None:
            return worker
        crashes.append((tmp_path / "worker.log").read_text()[-2000:])
        assert len(crashes) <= 2, crashes[-1]
        return start_worker()

    worker = start_worker()
    try:
        send_dispatch()
        deadline = time.monotonic() + 120
        while sent() < MEMBERS // 4 and time.monotonic() < deadline:
            # Redis has not moved yet: the worker has no reason to exit.
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.1)
        assert sent() < MEMBERS, "the campaign finished before Redis could be restarted"

        redis.kill()  # every queued message is gone with it
        redis.wait(timeout=10)
        time.sleep(2)
        redis = _start_redis(port)
        during = sent()

        # The tick, a minute later: stale claims back to the queue, a sender if rows are due.
        deadline = time.monotonic() + 240
        while (
            Touchpoint.objects.filter(campaign=campaign)
            .exclude(state=TouchpointState.SENT)
            .exists()
        ):
            assert time.monotonic() < deadline, f"stuck at {sent()} of {MEMBERS}"
            worker = supervise(worker)
            touchpoints_reclaim_stale(now=timezone.now())
            if due_count():
                send_dispatch()
            time.sleep(3)
    finally:
        stop(worker)
        redis.kill()
        provider.close()

    keys = set(Touchpoint.objects.filter(campaign=campaign).values_list("key", flat=True))
    assert len(keys) == MEMBERS and sent() == MEMBERS
    assert set(provider.requests) == keys  # every member reached
    repeats = len(provider.requests) - len(keys)
    assert repeats <= 200, repeats  # at most the batch in flight, dropped by the key
    # Part of the campaign went out before the restart, the rest after it, through the worker
    # reconnected to the new Redis (or started again, see supervise).
    assert 0 < during < MEMBERS
