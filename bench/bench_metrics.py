"""Member metrics refresh (RFM scores and lifecycle stages, members.services.metrics) on a
PostgreSQL database of its own: the target is stated for 1M members and 5M orders, more orders
a member than the shared scrm_bench holds (about 2), so this bench seeds scrm_bench_metrics
with ``seed_demo --orders-per-member`` and leaves scrm_bench alone.

    BENCH_METRICS_DATABASE_URL        default postgres://postgres@127.0.0.1:5432/scrm_bench_metrics
    BENCH_METRICS_MEMBERS             default 1,000,000
    BENCH_METRICS_ORDERS_PER_MEMBER   default 5 (about 5M orders for 1M members)
    BENCH_SETUP_ONLY=1                seed if needed and print the sizes; no timing

The database is (re)seeded when it holds fewer members than asked, or clearly fewer orders
(under 90% of members x orders per member); it is kept for the next run.

Floor: the bare per-member aggregate of paid orders (one GROUP BY, no scoring, no writes),
measured in the same run. Target (segments issue): a refresh of 1M members and 5M orders in
<= 60 s. Runs measured:

  first      the metrics table emptied first (it is derived data): every row inserted
  no change  again at once: everything computed, nothing written
  next night as of 24 h later, in a transaction rolled back: the usual nightly writes and
             stage-change events, leaving nothing behind

    python bench/run.py metrics
"""

from __future__ import annotations

import contextlib
import json
import os

from bench import harness

DATABASE_URL = os.environ.get(
    "BENCH_METRICS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scrm_bench_metrics"
)
MEMBERS = int(os.environ.get("BENCH_METRICS_MEMBERS", "1000000"))
ORDERS_PER_MEMBER = float(os.environ.get("BENCH_METRICS_ORDERS_PER_MEMBER", "5"))
SETUP_ONLY = os.environ.get("BENCH_SETUP_ONLY") == "1"
TARGET_SECONDS = 60

SNIPPET = """
import json, time
from datetime import timedelta
from django.db import connection, transaction
from django.utils import timezone
from members.models import Member, MemberMetrics, Order
from members.services import metrics

def timed(fn):
    started = time.monotonic()
    result = fn()
    return round(time.monotonic() - started, 2), result

out = {"members": Member.objects.count(), "orders": Order.objects.filter(status="paid").count()}
floor_sql = '''SELECT COUNT(*) FROM (SELECT member_id, COUNT(*), SUM(paid_amount),
    MIN(paid_at), MAX(paid_at) FROM members_order WHERE status = 'paid' GROUP BY member_id) s'''
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute(f"SET LOCAL work_mem = '{metrics.POSTGRES_WORK_MEM}'")
    out["floor"], _ = timed(lambda: cursor.execute(floor_sql))
with connection.cursor() as cursor:
    cursor.execute("TRUNCATE members_membermetrics")
now = timezone.now()
out["first"], out["first_result"] = timed(lambda: metrics.member_metrics_refresh(now=now))
out["again"], out["again_result"] = timed(lambda: metrics.member_metrics_refresh(now=now))
with transaction.atomic():
    out["next"], out["next_result"] = timed(
        lambda: metrics.member_metrics_refresh(now=now + timedelta(days=1)))
    transaction.set_rollback(True)
print(json.dumps(out))
"""


SIZES = """
import json
from members.models import Member, Order
print(json.dumps({"members": Member.objects.count(), "orders": Order.objects.count()}))
"""


@contextlib.contextmanager
def metrics_database():
    """Point bench.harness (which reads BENCH_DATABASE_URL) at this bench's database for the
    duration, then back: bench/run.py runs the other benches in the same process."""
    before = os.environ.get("BENCH_DATABASE_URL")
    os.environ["BENCH_DATABASE_URL"] = DATABASE_URL
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BENCH_DATABASE_URL", None)
        else:
            os.environ["BENCH_DATABASE_URL"] = before


def _sizes() -> dict:
    return json.loads(harness.manage("shell", "-c", SIZES, capture=True).strip().splitlines()[-1])


def setup() -> dict:
    """Create, migrate and seed the metrics bench database when it is short of members or
    orders; returns its sizes. Call inside metrics_database()."""
    harness.require_postgres()
    harness.ensure_database()
    sizes = _sizes()
    wanted_orders = int(MEMBERS * ORDERS_PER_MEMBER)
    if sizes["members"] < MEMBERS or sizes["orders"] < 0.9 * wanted_orders:
        print(
            f"seeding {MEMBERS:,} members with about {wanted_orders:,} orders into "
            f"{DATABASE_URL.rsplit('/', 1)[-1]} (once; kept for the next run)...",
            flush=True,
        )
        harness.manage(
            "seed_demo",
            "--members",
            str(MEMBERS),
            "--orders-per-member",
            str(ORDERS_PER_MEMBER),
            "--seed",
            "1",
            "--reset",
            "--no-events",
            "--no-progress",
        )
        sizes = _sizes()
    return sizes


def main() -> None:
    """Seed if needed, time the refresh on the metrics bench database and print figures
    against the floor."""
    with metrics_database():
        sizes = setup()
        print(
            f"database {DATABASE_URL.rsplit('/', 1)[-1]}: members {sizes['members']:,}; "
            f"orders {sizes['orders']:,}"
        )
        if SETUP_ONLY:
            print("setup only (BENCH_SETUP_ONLY=1): nothing timed")
            return
        out = harness.manage("shell", "-c", SNIPPET, capture=True)
    out = json.loads(out.strip().splitlines()[-1])
    print(
        f"members: {out['members']:,}; paid orders: {out['orders']:,}"
        + ("" if out["orders"] >= 5_000_000 else " (the target is stated for 5M orders)")
    )
    print(f"{'run':<36}{'seconds':>9}{'vs floor':>10}{'written':>10}{'events':>9}")
    print(f"{'floor: GROUP BY member over orders':<36}{out['floor']:>9.2f}{'1.0x':>10}")
    for key, label in (("first", "first"), ("again", "no change"), ("next", "next night")):
        result = out[f"{key}_result"]
        ratio = out[key] / out["floor"] if out["floor"] else 0
        print(
            f"{'refresh, ' + label:<36}{out[key]:>9.2f}{ratio:>9.1f}x"
            f"{result['written']:>10,}{result['events']:>9,}"
        )
    first = out["first_result"]
    print(f"  stages: {first['stages']}")
    print(f"  next night's stage changes: {out['next_result']['stage_changes']}")
    checks = [
        (f"first run <= {TARGET_SECONDS} s", out["first"] <= TARGET_SECONDS),
        ("no-change run writes nothing", out["again_result"]["written"] == 0),
        ("every member has a row", first["members"] == out["members"]),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
