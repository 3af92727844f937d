"""Member metrics refresh (RFM scores and lifecycle stages, members.services.metrics) on the
PostgreSQL bench database as it is: bench_members_api seeds 1M members with ~2M orders.

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

import json

from bench import harness

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


def main() -> None:
    """Time the refresh on the bench database and print figures against the floor."""
    harness.require_postgres()
    harness.ensure_database()
    out = json.loads(harness.manage("shell", "-c", SNIPPET, capture=True).strip().splitlines()[-1])
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
