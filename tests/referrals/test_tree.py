"""The referral forest: upline from the path, downline by index range and per level, counts
kept in step, no recursion."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referrals import selectors
from referrals.models import ReferralNode
from referrals.services.tree import subtree

pytestmark = pytest.mark.django_db


@pytest.fixture
def forest(make_member, refer):
    """root -> a, b; a -> a1, a2; a1 -> a11; b -> b1.  Plus a separate root r2 -> x."""
    m = {name: make_member() for name in ["root", "a", "b", "a1", "a2", "a11", "b1", "r2", "x"]}
    for child, parent in [
        ("a", "root"),
        ("b", "root"),
        ("a1", "a"),
        ("a2", "a"),
        ("a11", "a1"),
        ("b1", "b"),
        ("x", "r2"),
    ]:
        refer(m[child], m[parent])
    return m


def _node(member):
    return ReferralNode.objects.get(pk=member.pk)


def test_upline_is_the_path_to_the_root(forest):
    node = _node(forest["a11"])
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.upline(node)
    assert len(queries) == 1
    assert [row["member"]["id"] for row in rows] == [
        forest["root"].pk,
        forest["a"].pk,
        forest["a1"].pk,
    ]
    assert [row["depth"] for row in rows] == [0, 1, 2]
    assert selectors.upline(_node(forest["root"])) == []


def test_upline_hides_members_the_caller_may_not_see(forest):
    from members.models import Member

    node = _node(forest["a11"])
    visible = Member.objects.exclude(pk=forest["a"].pk)
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.upline(node, members=visible)
    assert len(queries) == 1
    assert rows[1] == {"depth": 1, "member": None}
    assert rows[0]["member"]["id"] == forest["root"].pk
    # Restricted to everyone, it is the unrestricted answer.
    assert selectors.upline(node, members=Member.objects.all()) == selectors.upline(node)
    assert selectors.upline(node, members=Member.objects.none()) == [
        {"depth": depth, "member": None} for depth in range(3)
    ]


def test_downline_per_level_and_count(forest):
    root = _node(forest["root"])
    assert selectors.downline_levels(root) == [
        {"level": 1, "count": 2},
        {"level": 2, "count": 3},
        {"level": 3, "count": 1},
    ]
    assert selectors.downline_count(root) == 6 == root.downline_count
    level2 = {n.member_id for n in selectors.downline_at_level(root, 2)}
    assert level2 == {forest["a1"].pk, forest["a2"].pk, forest["b1"].pk}
    a = _node(forest["a"])
    assert (a.direct_count, a.downline_count, a.depth) == (2, 3, 1)
    assert selectors.downline_levels(_node(forest["x"])) == []


def test_subtree_range_does_not_catch_ids_sharing_a_prefix(make_member, refer):
    """/12/ must not match /123/: the range ends at '/12' + '0'."""
    parent = make_member()
    children = [make_member() for _ in range(12)]
    for child in children:
        refer(child, parent)
    node = _node(parent)
    ids = set(subtree(node.path, include_self=False).values_list("member_id", flat=True))
    assert ids == {c.pk for c in children}
    for child in children:
        assert set(subtree(_node(child).path).values_list("member_id", flat=True)) == {child.pk}


def test_stored_counts_match_the_tree(forest):
    for node in ReferralNode.objects.all():
        assert node.downline_count == selectors.downline_count(node)
        assert node.direct_count == ReferralNode.objects.filter(parent=node.member).count()
        assert node.depth == len(node.ancestor_ids)


def test_downline_reads_use_the_path_index_on_postgresql(forest):
    if connection.vendor != "postgresql":
        pytest.skip("plans are checked on PostgreSQL")
    node = _node(forest["root"])
    queryset = subtree(node.path, include_self=False)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "referral_node_path" in plan or "referral_node_level" in plan
    assert "Recursive" not in plan


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL catalogue and plans; SQLite compares bytes (BINARY) anyway")


def test_path_column_has_the_c_collation_on_postgresql(db):
    """Byte order, whatever the database's locale: an en_US collation ignores '/' when sorting
    and the subtree ranges would catch strangers."""
    _postgresql_only()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_name = 'referrals_referralnode' AND column_name = 'path'"
        )
        assert cursor.fetchone() == ("C",)


def test_downline_count_is_one_range_with_no_filter(forest):
    """Strictly below '/12/' is path > '/12/' AND path < '/120': both bounds are index
    conditions, no row filter (the count runs as an index-only scan of the range)."""
    root = _node(forest["root"])
    with CaptureQueriesContext(connection) as queries:
        assert selectors.downline_count(root) == 6
    (query,) = queries.captured_queries
    assert "NOT" not in query["sql"].upper()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE referrals_referralnode")
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
        assert "Index Only Scan using referral_node_path" in plan, plan
        assert "Filter" not in plan, plan


def test_subtree_strictly_below_excludes_only_the_node(forest):
    a = _node(forest["a"])
    below = set(subtree(a.path, include_self=False).values_list("member_id", flat=True))
    assert below == {forest["a1"].pk, forest["a2"].pk, forest["a11"].pk}
    assert set(subtree(a.path).values_list("member_id", flat=True)) == below | {a.member_id}
