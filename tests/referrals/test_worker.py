"""End to end with a real Celery worker: an order paid in one transaction, its event handed to
the broker, a worker process (which registered the referral handlers in its own
ReferralsConfig.ready()) pays the referral rewards through the ledgers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from kombu import Exchange, Queue

from members.models import Event, Member
from members.tasks import events_dispatch
from referrals.choices import RewardKind, RewardStatus
from referrals.models import Reward
from scrm.celery import app as celery_app
from tests.test_worker import (
    PROJECT_ROOT,
    WAIT_SECONDS,
    filesystem_broker_options,
    remove_redis_queue,
    stop,
    worker_database_url,
)

pytestmark = pytest.mark.worker


def test_a_worker_pays_the_referral_rewards_once(
    transactional_db, tmp_path, make_member, refer, pay, programme
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    pay(friend, "200", run=False)
    event_ids = list(
        Event.objects.filter(dispatched_at__isnull=True, kind="order.paid").values_list(
            "pk", flat=True
        )
    )
    assert event_ids

    run_id = uuid.uuid4().hex[:10]
    queue_name = f"scrm-test-{run_id}"
    uses_redis = bool(settings.REDIS_URL)
    env = dict(os.environ)
    env.update({"DATABASE_URL": worker_database_url(), "PYTHONUNBUFFERED": "1"})
    transport_options = {}
    if not uses_redis:
        broker_dir = tmp_path / "broker"
        transport_options = filesystem_broker_options(broker_dir)
        env["CELERY_FS_DIR"] = str(broker_dir)
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    with celery_app.connection_for_write(transport_options=transport_options) as conn:
        queue(conn.default_channel).declare()
        with conn.Producer() as producer:
            # The same message twice: a redelivery must not pay twice.
            for _ in range(2):
                events_dispatch.apply_async(args=[event_ids], queue=queue_name, producer=producer)

    log_path = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "scrm", "worker", "--pool=solo",
        "--loglevel=INFO", f"--queues={queue_name}", f"--hostname=test-{run_id}@localhost",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and worker.poll() is None:
            if Event.objects.filter(pk__in=event_ids, dispatched_at__isnull=True).exists():
                time.sleep(0.25)
                continue
            break
        time.sleep(1)  # let the second message run too
        log_tail = log_path.read_text()[-3000:]
        assert worker.poll() is None, f"worker exited with {worker.returncode}:\n{log_tail}"
        kinds = sorted(
            Reward.objects.filter(status=RewardStatus.GRANTED).values_list("kind", flat=True)
        )
        assert kinds == sorted(
            [RewardKind.REFERRER, RewardKind.REFEREE, RewardKind.COMMISSION_1]
        ), log_tail
        assert Member.objects.get(pk=referrer.pk).points_balance == 120
    finally:
        stop(worker)
        if uses_redis:
            remove_redis_queue(queue_name)
