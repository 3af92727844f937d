"""Exactly once under crashes: SIGKILL a real worker in the middle of a 20k-member campaign,
start another, and every member is contacted once — the outbox, not the broker, decides.

The provider is a local webhook server that accepts the touchpoint key as Idempotency-Key, as
the channel contract says providers do; it records every request, so the test also shows how
many messages the crash made it see twice (resends the key lets it drop).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from kombu import Exchange, Queue

from campaigns.models import Touchpoint, TouchpointState
from campaigns.services.campaigns import campaign_create, campaign_launch
from campaigns.services.dispatch import touchpoints_reclaim_stale
from campaigns.services.fanout import run_fan_out, runs_start_due
from members.models import Member
from scrm.celery import app as celery_app
from tests.test_worker import (
    filesystem_broker_options,
    remove_redis_queue,
    stop,
    worker_database_url,
    worker_start,
)

pytestmark = pytest.mark.worker

MEMBERS = 20_000


class Provider:
    """A webhook endpoint that keeps every key it is sent and answers 200."""

    def __init__(self):
        self.requests: list[str] = []
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with provider.lock:
                    provider.requests.append(self.headers["Idempotency-Key"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_sigkill_mid_campaign_sends_each_member_once(transactional_db, tmp_path, settings):
    provider = Provider()
    settings.SCRM_WEBHOOK_URL = provider.url
    settings.SCRM_WEBHOOK_SECRET = "s3cret"
    settings.SCRM_QUIET_HOURS = []
    settings.SCRM_FREQUENCY_CAPS = {"all": [], "channels": {}}
    settings.SCRM_DISPATCH_CLAIM_TIMEOUT = 5  # the sweep here and in the workers alike
    Member.objects.bulk_create(
        [Member(name=f"m{n}", phone=f"+86137{n:08d}") for n in range(MEMBERS)], batch_size=5000
    )
    campaign = campaign_create(
        name="Crash test",
        kind="one_off",
        channel="webhook",
        steps=[{"contents": {"A": {"body": "hello {{ member_name }}"}}}],
    )
    now = timezone.now()
    campaign_launch(campaign=campaign, now=now)
    (run,) = runs_start_due(now=now)
    assert run_fan_out(run=run)

    run_id = uuid.uuid4().hex[:10]
    queue_name = f"scrm-test-{run_id}"
    uses_redis = bool(settings.REDIS_URL)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": worker_database_url(),
            "PYTHONUNBUFFERED": "1",
            "CELERY_QUEUE": queue_name,
            "SCRM_WEBHOOK_URL": provider.url,
            "SCRM_WEBHOOK_SECRET": "s3cret",
            "SCRM_QUIET_HOURS": "",
            "SCRM_DISPATCH_BATCH": "200",
            "SCRM_DISPATCH_CLAIM_TIMEOUT": "5",
        }
    )
    transport_options = {}
    if not uses_redis:
        broker_dir = tmp_path / "broker"
        transport_options = filesystem_broker_options(broker_dir)
        env["CELERY_FS_DIR"] = str(broker_dir)
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)

    def send_dispatch():
        with celery_app.connection_for_write(transport_options=transport_options) as conn:
            queue(conn.default_channel).declare()
            with conn.Producer() as producer:
                celery_app.send_task(
                    "campaigns.dispatch",
                    queue=queue_name,
                    routing_key=queue_name,
                    producer=producer,
                )

    def start_worker(name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        return worker_start(
            env=env, queue=queue_name, hostname=f"{name}-{run_id}@localhost", log=log
        )

    def sent() -> int:
        return Touchpoint.objects.filter(campaign=campaign, state=TouchpointState.SENT).count()

    first = start_worker("first")
    second = None
    try:
        send_dispatch()
        deadline = time.monotonic() + 120
        # Kill it once it is well into the campaign, mid-batch.
        while sent() < MEMBERS // 3 and time.monotonic() < deadline:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            time.sleep(0.2)
        assert sent() < MEMBERS, "the worker finished before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = sent()

        # What the minute tick does: hand back the dead worker's claims, start a sender.
        time.sleep(6)
        # (Nothing to hand back if the kill fell between two batches.)
        touchpoints_reclaim_stale(now=timezone.now())
        second = start_worker("second")
        send_dispatch()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            remaining = Touchpoint.objects.filter(campaign=campaign).exclude(
                state=TouchpointState.SENT
            )
            if not remaining.exists():
                break
            # The tick's sweep: claims older than the (5 s) timeout go back to the queue.
            if touchpoints_reclaim_stale(now=timezone.now()):
                send_dispatch()
            if second.poll() is not None:
                pytest.fail((tmp_path / "second.log").read_text()[-2000:])
            time.sleep(0.5)
    finally:
        for worker in (first, second):
            if worker is not None:
                stop(worker)
        provider.close()
        if uses_redis:
            remove_redis_queue(queue_name)

    states = Touchpoint.objects.filter(campaign=campaign)
    assert states.count() == MEMBERS
    assert states.filter(state=TouchpointState.SENT).count() == MEMBERS, "some member was missed"
    keys = set(states.values_list("key", flat=True))
    # The provider, deduplicating on the key, saw every member exactly once…
    assert set(provider.requests) == keys
    # …and the crash cost at most the batch in flight in repeats, which the key let it drop.
    repeats = len(provider.requests) - len(keys)
    assert repeats <= 200, repeats
    assert 0 < killed_at < MEMBERS
