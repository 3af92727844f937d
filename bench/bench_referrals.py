"""The referral tree on PostgreSQL: a forest over the bench's 1M members.

Builds (when the tree tables do not hold every member; BENCH_REFERRALS_REBUILD=1 to redo) a
forest over every member of scrm_bench in the referrals tables only: trees of heavy-tailed
sizes (the largest 60,000 members, most a handful) grown by uniform random attachment, so
depths run to about 30 like real invitation chains; then VACUUM ANALYZE, so the visibility map
is set and the index range count is an index-only scan with no heap fetches. Needs at least
1,000,000 members (`manage.py seed_demo` on the bench database makes them).

Measures, on the same connection in the same run:

- the upline of the deepest member: referrals.selectors.upline with the node in hand (as the
  API has it after its 404 check): ids parsed from the path, one query, one round trip;
  against a recursive CTE walking parent ids from the member id, both returning the
  ancestors' member rows (also printed: with the node lookup, and restricted to active
  members as the API's operators see them);
- the downline count of the largest subtree: referrals.selectors.downline_count, the index
  range count over the tree (the verdict), the stored counter (printed, not judged), the
  per-level counts, against a recursive CTE over parent ids;
- the same for a subtree of about 25,000 members (the size FACTS.md quotes).

The plans printed are EXPLAIN (ANALYZE, BUFFERS) of the SQL the selectors actually sent
(captured as they ran). Targets (issue: referrals): upline <= 2 ms and faster than the CTE;
downline count of the largest subtree <= 10 ms, by the index range count.

    .venv/bin/python bench/run.py referrals
"""

from __future__ import annotations

import json
import os

from bench import harness

RUNS = 100
LARGEST = 60_000
MIN_MEMBERS = 1_000_000
SEED = 20251123

SNIPPET = "from bench.bench_referrals import in_django; in_django()"


def _tree_sizes(rng, total: int) -> list[int]:
    """A few big trees, then heavy-tailed small ones (most members refer nobody)."""
    sizes = [LARGEST, 40_000, 25_000, 25_000, 15_000, 10_000, 10_000, 5_000, 5_000, 5_000]
    left = total - sum(sizes)
    while left > 0:
        size = min(int(rng.paretovariate(1.15)), 3_000, left)
        sizes.append(size)
        left -= size
    return sizes


def build_forest() -> dict:
    """Write the forest with COPY; returns what was built."""
    import random
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    rng = random.Random(SEED)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM members_member ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
    rng.shuffle(ids)
    now = timezone.now()
    deepest = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE referrals_reward, referrals_referral, referrals_referralnode")
        raw = cursor.cursor
        start, links = 0, []
        # One COPY at a time per connection: the referral rows wait in memory (~1M tuples).
        with raw.copy(
            "COPY referrals_referralnode (member_id, parent_id, path, depth, direct_count,"
            " downline_count, qualified_count, revenue) FROM STDIN"
        ) as nodes:
            for size in _tree_sizes(rng, len(ids)):
                tree = ids[start : start + size]
                start += size
                parent = [-1] + [rng.randrange(k) for k in range(1, size)]
                paths, depth = [f"/{tree[0]}/"], [0]
                for k in range(1, size):
                    paths.append(f"{paths[parent[k]]}{tree[k]}/")
                    depth.append(depth[parent[k]] + 1)
                direct, below = [0] * size, [0] * size
                for k in range(size - 1, 0, -1):
                    direct[parent[k]] += 1
                    below[parent[k]] += 1 + below[k]
                for k in range(size):
                    up = tree[parent[k]] if k else None
                    nodes.write_row((tree[k], up, paths[k], depth[k], direct[k], below[k], 0, 0))
                    if up is not None:
                        links.append((tree[k], up))
                deepest = max(deepest, max(depth))
        with raw.copy(
            "COPY referrals_referral (referee_id, referrer_id, channel, attached_at, status,"
            " flags) FROM STDIN"
        ) as copy:
            for referee, referrer in links:
                when = now - timedelta(minutes=rng.randrange(1, 500_000))
                copy.write_row((referee, referrer, "signup", when, "expired", "[]"))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE referrals_referralnode")
        cursor.execute("VACUUM ANALYZE referrals_referral")
    return {"nodes": len(ids), "deepest": deepest}


def _median_ms(fn, runs: int = RUNS) -> float:
    import statistics
    import time

    fn()  # warm the cache and the plan
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


UPLINE_CTE = """
WITH RECURSIVE up AS (
    SELECT member_id, parent_id, 0 AS steps FROM referrals_referralnode WHERE member_id = %s
    UNION ALL
    SELECT n.member_id, n.parent_id, up.steps + 1
    FROM referrals_referralnode n JOIN up ON n.member_id = up.parent_id
)
SELECT m.id, m.name, m.phone, m.status, m.home_store_id
FROM up JOIN members_member m ON m.id = up.member_id
WHERE up.steps > 0 ORDER BY up.steps DESC
"""

DOWNLINE_CTE = """
WITH RECURSIVE down AS (
    SELECT member_id FROM referrals_referralnode WHERE parent_id = %s
    UNION ALL
    SELECT n.member_id FROM referrals_referralnode n JOIN down ON n.parent_id = down.member_id
)
SELECT count(*) FROM down
"""


def _captured(fn):
    """Run ``fn`` once and return its result with the SQL it sent (as sent: the backend binds
    parameters on the client), so the plans printed are those of the selectors' own queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        result = fn()
    return result, [q["sql"] for q in queries.captured_queries]


def _explain(sql_text: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
        return [row[0] for row in cursor.fetchall()]


def visibility() -> dict:
    """How much of the tree table the visibility map marks all-visible (index-only scans skip
    the heap only for those pages)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'referrals_referralnode'"
        )
        pages, visible = cursor.fetchone()
    return {"pages": pages, "all_visible": visible}


def measure() -> dict:
    from django.db import connection

    from members.choices import MemberStatus
    from members.models import Member
    from referrals import selectors
    from referrals.models import ReferralNode

    def sql(query, params):
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    deepest = ReferralNode.objects.order_by("-depth", "path").first()
    largest = ReferralNode.objects.order_by("-downline_count").first()
    near_25k = (
        ReferralNode.objects.filter(downline_count__lte=25_000).order_by("-downline_count").first()
    )

    rows, upline_sql = _captured(lambda: selectors.upline(deepest))
    assert len(upline_sql) == 1, upline_sql  # one round trip
    assert [r["member"]["id"] for r in rows] == [row[0] for row in sql(UPLINE_CTE, [deepest.pk])]

    def upline_from_id():
        return selectors.upline(ReferralNode.objects.get(pk=deepest.pk))

    active = Member.objects.filter(status=MemberStatus.ACTIVE)  # what an operator may see

    result = {
        "deepest": {"member": deepest.pk, "depth": deepest.depth},
        "upline_ms": _median_ms(lambda: selectors.upline(deepest)),
        "upline_with_node_ms": _median_ms(upline_from_id),
        "upline_visible_ms": _median_ms(lambda: selectors.upline(deepest, members=active)),
        "upline_cte_ms": _median_ms(lambda: sql(UPLINE_CTE, [deepest.pk])),
        "upline_plan": _explain(upline_sql[0]),
    }
    for label, node in (("largest", largest), ("near_25k", near_25k)):
        cte = sql(DOWNLINE_CTE, [node.pk])[0][0]
        counted, count_sql = _captured(lambda node=node: selectors.downline_count(node))
        assert len(count_sql) == 1, count_sql
        assert cte == node.downline_count == counted, label
        assert sum(r["count"] for r in selectors.downline_levels(node)) == cte, label
        result[label] = {
            "member": node.pk,
            "downline": node.downline_count,
            "levels": len(selectors.downline_levels(node)),
            "index_count_ms": _median_ms(lambda node=node: selectors.downline_count(node)),
            "stored_ms": _median_ms(
                lambda node=node: ReferralNode.objects.values_list("downline_count", flat=True).get(
                    pk=node.pk
                )
            ),
            "per_level_ms": _median_ms(lambda node=node: selectors.downline_levels(node)),
            "cte_ms": _median_ms(lambda node=node: sql(DOWNLINE_CTE, [node.pk]), runs=5),
            "sql": count_sql[0],
        }
    result["plan"] = _explain(result["largest"]["sql"])
    return result


def in_django() -> None:
    """Runs inside `manage.py shell` on the bench database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM members_member")
        members = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM referrals_referralnode")
        nodes = cursor.fetchone()[0]
    if members < MIN_MEMBERS:
        raise SystemExit(
            f"the referral bench needs {MIN_MEMBERS:,} members, the bench database has "
            f"{members:,}: run `manage.py seed_demo` on it first"
        )
    built = None
    if nodes != members or os.environ.get("BENCH_REFERRALS_REBUILD") == "1":
        built = build_forest()
    else:
        # Cheap when nothing changed; sets the visibility map if something did.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE referrals_referralnode")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM referrals_referralnode")
        nodes = cursor.fetchone()[0]
    assert nodes == members >= MIN_MEMBERS, (nodes, members)
    print(
        json.dumps(
            {
                "members": members,
                "nodes": nodes,
                "built": built,
                "visibility": visibility(),
                **measure(),
            }
        )
    )


def main() -> None:
    """Build the forest if needed, measure, print figures and ratios against the CTEs."""
    harness.ensure_bench_members()
    out = harness.manage("shell", "-c", SNIPPET, capture=True).strip().splitlines()[-1]
    report(json.loads(out))


def report(r: dict) -> None:
    """Print what in_django() measured, with the verdicts."""
    if r["built"]:
        print(f"built a forest over {r['built']['nodes']:,} members")
    vis = r["visibility"]
    print(
        f"members: {r['members']:,}, tree nodes: {r['nodes']:,}; medians of {RUNS} runs "
        f"(recursive CTE downline: 5 runs); tree table {vis['all_visible']:,} of "
        f"{vis['pages']:,} pages all-visible"
    )
    up, up_cte = r["upline_ms"], r["upline_cte_ms"]
    print(
        f"upline of the deepest member (#{r['deepest']['member']}, depth {r['deepest']['depth']})"
    )
    print(f"  selectors.upline, node in hand (1 query) {up:8.2f} ms   CTE/path {up_cte / up:.2f}x")
    print(f"  node lookup + selectors.upline (2)       {r['upline_with_node_ms']:8.2f} ms")
    print(f"  selectors.upline, active members only    {r['upline_visible_ms']:8.2f} ms   (API)")
    print(f"  recursive CTE from the member id (1)     {up_cte:8.2f} ms")
    for label in ("largest", "near_25k"):
        d = r[label]
        title = "the largest subtree" if label == "largest" else "a subtree of about 25k"
        print(
            f"downline of {title} (#{d['member']}: {d['downline']:,} members, {d['levels']} levels)"
        )
        print(
            f"  index range count (selectors.downline_count) {d['index_count_ms']:8.2f} ms"
            f"   CTE/index {d['cte_ms'] / d['index_count_ms']:.0f}x"
        )
        print(f"  stored counter (not judged)                  {d['stored_ms']:8.2f} ms")
        print(f"  counts per level (selectors.downline_levels) {d['per_level_ms']:8.2f} ms")
        print(f"  recursive CTE count                          {d['cte_ms']:8.2f} ms")
    print("selectors.downline_count's query, largest subtree:")
    print(f"    {r['largest']['sql']}")
    for line in r["plan"]:
        print(f"    {line}")
    print("selectors.upline's query, deepest member:")
    for line in r["upline_plan"]:
        print(f"    {line}")
    largest = r["largest"]
    ok_up = up <= 2 and up < up_cte
    ok_down = largest["index_count_ms"] <= 10
    print(
        f"  [{'ok' if ok_up else 'MISSED'}] upline of the deepest member <= 2 ms and faster "
        f"than the CTE ({up:.2f} ms, CTE {up_cte:.2f} ms)"
    )
    print(
        f"  [{'ok' if ok_down else 'MISSED'}] downline count of the largest subtree <= 10 ms by "
        f"the index range count ({largest['index_count_ms']:.2f} ms; stored counter "
        f"{largest['stored_ms']:.2f} ms, not judged)"
    )
