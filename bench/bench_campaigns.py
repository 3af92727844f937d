"""A campaign to every member of the PostgreSQL bench database (1M) through the no-op channel,
with Redis and two Celery worker processes, from launch to every touchpoint sent.

Floors measured in the same run:
  insert-select  a plain INSERT … SELECT of the same 1M rows into an unindexed copy of the
                 touchpoint table (what writing the outbox costs at the least)
  task/member    one Celery task per member (a built-in no-op task), published and consumed
                 by the same two workers, on a 5,000-member sample: the design DESIGN.md rules
                 out, for scale
Target (campaign issue): launch to all sent <= 30 s.

    make bench ARGS=campaigns          (needs Redis: REDIS_URL or redis://127.0.0.1:6379/0)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from bench import harness

TARGET_SECONDS = 30
SAMPLE_TASKS = 5000
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

SETUP = """
import json, time
from django.db import connection
from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create
from members.models import Member
Campaign.objects.filter(name__startswith="bench ").delete()
c = campaign_create(name="bench " + str(time.time()), kind="one_off", channel="noop",
                    steps=[{"contents": {"A": {"body": "{{ member_name }}, 会员日快乐"}}}])
members = Member.objects.filter(status="active").count()
with connection.cursor() as cursor:
    cursor.execute("DROP TABLE IF EXISTS bench_touchpoint_copy")
    cursor.execute("CREATE TABLE bench_touchpoint_copy"
                   " (LIKE campaigns_touchpoint INCLUDING DEFAULTS INCLUDING IDENTITY)")
    started = time.monotonic()
    cursor.execute(
        "INSERT INTO bench_touchpoint_copy (key, campaign_id, run_id, step_id, variant_id,"
        " member_id, channel, state, skip_reason, send_after, attempts, provider_id, error,"
        " revenue, margin, created_at) SELECT 'x' || m.id, 1, 1, 1, 1, m.id, 'noop', 'pending',"
        " '', now(), 0, '', '', 0, 0, now() FROM members_member m WHERE m.status = 'active'")
    floor = time.monotonic() - started
    cursor.execute("DROP TABLE bench_touchpoint_copy")
print(json.dumps({"campaign": c.pk, "members": members, "insert_select": floor}))
"""

LAUNCH = """
import json, time
from django.db import transaction
from django.utils import timezone
from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_launch
from campaigns.tasks import campaigns_tick
c = Campaign.objects.get(pk=CAMPAIGN)
with transaction.atomic():
    campaign_launch(campaign=c, now=timezone.now())
    campaigns_tick()
print(json.dumps({"launched": time.time()}))
"""

PROGRESS = """
import json
from django.db.models import Count
from campaigns.models import Touchpoint
rows = dict(Touchpoint.objects.filter(campaign_id=CAMPAIGN)
            .values_list("state").annotate(n=Count("id")))
print(json.dumps(rows))
"""

# Where the time went (read after the workers stopped, so their statistics are flushed): when
# the fan-out ended and the first and last batches were claimed (sent_at), relative to launch,
# and how many touchpoint updates were HOT (no index entry written: the claims).
DETAIL = """
import json
from django.db import connection
from django.db.models import Max, Min
from campaigns.models import Run, Touchpoint
run = Run.objects.filter(campaign_id=CAMPAIGN).first()
sent = Touchpoint.objects.filter(campaign_id=CAMPAIGN).aggregate(first=Min("sent_at"),
                                                                 last=Max("sent_at"))
with connection.cursor() as cursor:
    cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                   " WHERE relname = 'campaigns_touchpoint'")
    updates, hot = cursor.fetchone()
print(json.dumps({
    "created": run.created_at.timestamp() if run else None,
    "fanned_out": run.fanned_out_at.timestamp() if run and run.fanned_out_at else None,
    "first_sent": sent["first"].timestamp() if sent["first"] else None,
    "last_sent": sent["last"].timestamp() if sent["last"] else None,
    "updates": updates, "hot": hot,
}))
"""

TASKS = """
import json, time
from scrm.celery import app
started = time.time()
for n in range(SAMPLE):
    app.send_task("celery.accumulate", args=(n,))
print(json.dumps({"published": time.time() - started, "started": started}))
"""


def _shell(code: str, env: dict) -> dict:
    out = subprocess.run(
        [harness.PYTHON, "manage.py", "shell", "-c", code],
        cwd=harness.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _workers(env: dict, count: int = 2) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "scrm",
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                f"--queues={env['CELERY_QUEUE']}",
                f"--hostname=bench{n}-{env['CELERY_QUEUE']}@localhost",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ],
            cwd=harness.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def _queue_length(queue: str) -> int:
    import redis

    return redis.Redis.from_url(REDIS_URL).llen(queue)


def main() -> None:
    """Launch a campaign to every bench member, time it to the last send, print the ratios."""
    harness.ensure_bench_members()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = harness.bench_env(
        REDIS_URL=REDIS_URL,
        CELERY_QUEUE=queue,
        SCRM_QUIET_HOURS="",
        SCRM_DISPATCH_BATCH=os.environ.get("SCRM_DISPATCH_BATCH", "2000"),
    )
    setup = _shell(SETUP, env)
    campaign = setup["campaign"]
    print(
        f"members: {setup['members']:,}; 2 worker processes (solo pool), Redis broker, "
        f"dispatch batch {env['SCRM_DISPATCH_BATCH']}"
    )

    # Floor 2: one task per member, on a sample.
    workers = _workers(env)
    try:
        time.sleep(3)
        published = _shell(TASKS.replace("SAMPLE", str(SAMPLE_TASKS)), env)
        while _queue_length(queue):
            time.sleep(0.05)
        per_task_rate = SAMPLE_TASKS / (time.time() - published["started"])
    finally:
        _stop(workers)

    detail_code = DETAIL.replace("CAMPAIGN", str(campaign))
    before = _shell(detail_code, env)
    workers = _workers(env)
    try:
        time.sleep(3)
        launched = _shell(LAUNCH.replace("CAMPAIGN", str(campaign)), env)["launched"]
        progress_code = PROGRESS.replace("CAMPAIGN", str(campaign))
        while True:
            time.sleep(1)
            rows = _shell(progress_code, env)
            total = sum(rows.values())
            settled = rows.get("sent", 0) + rows.get("skipped", 0) + rows.get("failed", 0)
            if total >= setup["members"] and settled == total:
                break
            if time.time() - launched > 600:
                raise SystemExit(f"not finished after 10 minutes: {rows}")
        # The poll adds up to a second (plus a shell start) to the figure: it errs high.
        elapsed = time.time() - launched
    finally:
        _stop(workers)

    after = _shell(detail_code, env)
    members = setup["members"]
    rate = members / elapsed
    floor_rate = members / setup["insert_select"]
    print(f"{'':32}{'seconds':>10}{'rows/s':>12}")
    print(f"{'campaign, launch to all sent':32}{elapsed:10.1f}{rate:12,.0f}")
    print(f"{'floor: INSERT … SELECT':32}{setup['insert_select']:10.1f}{floor_rate:12,.0f}")
    print(f"{'floor: one task per member':32}{members / per_task_rate:10.1f}{per_task_rate:12,.0f}")
    print(
        f"  ratio to INSERT … SELECT: {rate / floor_rate:.2f}; "
        f"to a task per member: {rate / per_task_rate:.1f}x faster"
    )
    print(f"  states: {json.dumps(rows)}")

    def since_launch(name: str) -> str:
        return f"+{after[name] - launched:.1f} s" if after[name] else "-"

    updates = after["updates"] - before["updates"]
    hot = after["hot"] - before["hot"]
    print(
        f"  timeline: run created {since_launch('created')}, fan-out done "
        f"{since_launch('fanned_out')}; sent_at (its batch's claim) from "
        f"{since_launch('first_sent')} to {since_launch('last_sent')}"
    )
    print(
        f"  touchpoint updates: {updates:,}, HOT (no index entries) {hot:,} ({hot / updates:.0%})"
        if updates
        else "  touchpoint updates: none counted"
    )
    print(f"  [{'ok' if elapsed <= TARGET_SECONDS else 'MISSED'}] 1M-member campaign <= 30 s")
