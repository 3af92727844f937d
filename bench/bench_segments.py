"""Counting a segment on PostgreSQL with the bench members (seeded here when missing, as
bench_members_api does: BENCH_MEMBERS members, default 1,000,000, in scrm_bench).

Floor: the same count written by hand in SQL, run on the same connection in the same run.
Target (issue 4): a 4-condition segment with a tag condition counts in <= 1.5x the hand-written
query (parsing and compiling the tree included).

The two are the same statement in form: the compiler resolves the tier's code to its id when
it compiles the tree and inlines it (``tier_id IN (3)``), as the hand-written query has
``tier_id = 3``; the tag condition is an EXISTS over member tags in both. Both statements are
printed, so the comparison can be read.

    python bench/run.py segments
    BENCH_MEMBERS=100000 python bench/run.py segments
    BENCH_SETUP_ONLY=1 ...      # seed if needed, print the sizes and both statements, check
                                # they agree once; no timing
"""

from __future__ import annotations

import json
import os

from bench import harness

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
SETUP_ONLY = os.environ.get("BENCH_SETUP_ONLY") == "1"

# Run by manage.py shell after a first line "RUNS = n".
SNIPPET = r"""
import json, statistics, time
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from members.models import Member, MemberTag, Tier
from members.segments import segment_members, tree_parse

# A mid tier and the tag most common among its members: a realistic "silver douyin/mini-program
# repeat buyers who prefer skin care" audience.
tier = Tier.objects.order_by("rank")[1]
tag_id = (MemberTag.objects.filter(member__tier=tier, member_id__lt=20000).values("tag_id")
          .annotate(n=Count("id")).order_by("-n").values_list("tag_id", flat=True)[0])
tree = {"all": [
    {"field": "tier", "op": "in", "value": [tier.code]},
    {"field": "source", "op": "in", "value": ["douyin", "miniprogram"]},
    {"field": "order_count", "op": "gte", "value": 2},
    {"field": "tags", "op": "has_any", "value": [tag_id]},
]}
sql = '''SELECT count(*) FROM members_member m
WHERE m.status = 'active'
  AND m.tier_id = %s
  AND m.source IN ('douyin', 'miniprogram')
  AND m.order_count >= 2
  AND EXISTS (SELECT 1 FROM members_membertag t WHERE t.member_id = m.id AND t.tag_id = %s)'''

def by_hand():
    with connection.cursor() as cursor:
        cursor.execute(sql, [tier.pk, tag_id])
        return cursor.fetchone()[0]

def by_tree():
    return segment_members(tree_parse(tree)).count()

compiled = segment_members(tree_parse(tree))

def count_only():
    return compiled.count()

def executed(fn):
    # The count and the statement that ran, with its parameters in place.
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    return result, queries.captured_queries[-1]["sql"]

count, hand_sql = executed(by_hand)
tree_count, tree_sql = executed(count_only)
assert count == tree_count == by_tree(), (count, tree_count, by_tree())
out = {"members": Member.objects.count(), "member_tags": MemberTag.objects.count(),
       "count": count, "tree": tree, "hand_sql": hand_sql, "tree_sql": tree_sql}
if RUNS:
    hand, seg, only = [], [], []
    for _ in range(RUNS):
        for fn, times in ((by_hand, hand), (by_tree, seg), (count_only, only)):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    out.update(hand_ms=statistics.median(hand), tree_ms=statistics.median(seg),
               count_only_ms=statistics.median(only))
print(json.dumps(out))
"""


def setup() -> None:
    """The bench database with its shared members (seeded once when missing)."""
    harness.ensure_bench_members()


def main() -> None:
    """Seed if needed; time the hand-written count and the segment count alternately; print
    the sizes, both statements, medians and the ratio against the 1.5x target."""
    setup()
    runs = 0 if SETUP_ONLY else RUNS
    out = harness.manage("shell", "-c", f"RUNS = {runs}\n{SNIPPET}", capture=True)
    result = json.loads(out.strip().splitlines()[-1])
    print(f"members: {result['members']:,}; member tags: {result['member_tags']:,}")
    print(f"segment: {json.dumps(result['tree'], ensure_ascii=False)}")
    for label, statement in (("hand-written SQL", "hand_sql"), ("compiled tree", "tree_sql")):
        print(f"{label}:")
        print("\n".join(f"    {line.strip()}" for line in result[statement].splitlines()))
    print(f"members matching: {result['count']:,} (the same by hand and by the tree)")
    if not runs:
        print("setup only (BENCH_SETUP_ONLY=1): nothing timed")
        return
    ratio = result["tree_ms"] / result["hand_ms"]
    only = result["count_only_ms"] / result["hand_ms"]
    print(f"median of {runs} runs each, alternating")
    print(f"  hand-written SQL              {result['hand_ms']:8.1f} ms")
    print(f"  segment, parse+compile+count  {result['tree_ms']:8.1f} ms   {ratio:.2f}x")
    print(f"  segment, count only           {result['count_only_ms']:8.1f} ms   {only:.2f}x")
    print(f"  [{'ok' if ratio <= 1.5 else 'MISSED'}] segment count <= 1.5x hand-written SQL")
