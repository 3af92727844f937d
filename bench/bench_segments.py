"""Counting a segment on PostgreSQL with the seeded bench members (bench_members_api seeds them).

Floor: the same count written by hand in SQL, run on the same connection in the same run.
Target (issue 4): a 4-condition segment with a tag condition counts in <= 1.5x the hand-written
query (parsing and compiling the tree included).

    make bench ARGS=segments
"""

from __future__ import annotations

import json

from bench import harness

RUNS = 15

SNIPPET = r"""
import json, statistics, time
from django.db import connection
from members.models import MemberTag, Tag, Tier
from members.segments import segment_members, tree_parse

# A mid tier and the tag most common among its members: a realistic "silver douyin/mini-program
# repeat buyers who prefer skin care" audience.
from django.db.models import Count
tier = Tier.objects.order_by("rank")[1]
tag_id = (MemberTag.objects.filter(member__tier=tier, member_id__lt=20000).values("tag_id")
          .annotate(n=Count("id")).order_by("-n").values_list("tag_id", flat=True)[0])
tree = {"all": [
    {"field": "tier", "op": "in", "value": [tier.code]},
    {"field": "source", "op": "in", "value": ["douyin", "miniprogram"]},
    {"field": "order_count", "op": "gte", "value": 2},
    {"field": "tags", "op": "has_any", "value": [tag_id]},
]}
sql = '''
SELECT count(*) FROM members_member m
WHERE m.status = 'active'
  AND m.tier_id = %s
  AND m.source IN ('douyin', 'miniprogram')
  AND m.order_count >= 2
  AND EXISTS (SELECT 1 FROM members_membertag t WHERE t.member_id = m.id AND t.tag_id = %s)
'''

def by_hand():
    with connection.cursor() as cursor:
        cursor.execute(sql, [tier.pk, tag_id])
        return cursor.fetchone()[0]

def by_tree():
    return segment_members(tree_parse(tree)).count()

assert by_hand() == by_tree(), (by_hand(), by_tree())
hand, seg = [], []
for _ in range(RUNS):
    for fn, out in ((by_hand, hand), (by_tree, seg)):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
print(json.dumps({"count": by_hand(), "hand_ms": statistics.median(hand),
                  "tree_ms": statistics.median(seg), "tree": tree}))
"""


def main() -> None:
    """Time the hand-written count and the segment count alternately; print medians and ratio."""
    harness.require_postgres()
    harness.ensure_database()
    out = (
        harness.manage("shell", "-c", SNIPPET.replace("RUNS", str(RUNS)), capture=True)
        .strip()
        .splitlines()[-1]
    )
    result = json.loads(out)
    ratio = result["tree_ms"] / result["hand_ms"]
    print(f"segment: {json.dumps(result['tree'], ensure_ascii=False)}")
    print(f"members matching: {result['count']:,}; median of {RUNS} runs each")
    print(f"  hand-written SQL      {result['hand_ms']:8.1f} ms")
    print(f"  segment (parse+count) {result['tree_ms']:8.1f} ms   {ratio:.2f}x")
    print(f"  [{'ok' if ratio <= 1.5 else 'MISSED'}] segment count <= 1.5x hand-written SQL")
