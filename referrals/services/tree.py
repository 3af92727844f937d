"""Changing the referral forest: new nodes, moving a subtree, handing a node to another member.

Paths are rewritten with one UPDATE over the moved subtree's path range, and the counts of the
old and new uplines with one UPDATE each: set-based, whatever the subtree's size. Callers hold
the transaction (referrals.services.attach, referrals.services.hooks).

Locking, so that a move and an attach under the moving subtree never miss each other: every
writer locks the rows it changes in path order (root first) before it reads the paths it
writes. An attach locks its parent's upline and the parent (chain_lock); a move locks the
moved node's upline, its whole subtree range and the new parent's upline (subtree_lock), and
only then reads and rewrites. A concurrent attach under the subtree therefore either commits
before the move's lock is granted (its new row is visible to the move's rewrite, a later
statement) or waits on the subtree's root and then reads the rewritten path. Locking in one
order (paths, byte order) also keeps the two from deadlocking on each other.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat, Substr

from referrals.models import ReferralNode


def subtree_range(path: str) -> tuple[str, str]:
    """[low, high) holding ``path`` and every path below it: '0' sorts right after '/'."""
    return path, path[:-1] + "0"


def subtree(path: str, *, include_self: bool = True):
    """Nodes at and below ``path`` (or strictly below), as one index range: strictly below is
    ``path > '/12/'``, the node's own path being the smallest in its range, so both are pure
    index conditions (no filter on the rows the range returns)."""
    low, high = subtree_range(path)
    if include_self:
        return ReferralNode.objects.filter(path__gte=low, path__lt=high)
    return ReferralNode.objects.filter(path__gt=low, path__lt=high)


def node_locked(member_id: int) -> ReferralNode | None:
    return ReferralNode.objects.select_for_update().filter(pk=member_id).first()


def _chain_ids(node: ReferralNode) -> list[int]:
    return [*node.ancestor_ids, node.member_id]


def nodes_lock(*, ids=(), paths=()) -> int:
    """Lock (FOR UPDATE) the nodes ``ids`` and every node at or below each of ``paths``, in
    path order, in one statement that returns only a count (a 60,000-node subtree is not
    shipped to Python). A no-op on SQLite, whose writers are serialised anyway."""
    where = Q(pk__in=list(ids))
    for path in paths:
        low, high = subtree_range(path)
        where |= Q(path__gte=low, path__lt=high)
    locked = ReferralNode.objects.select_for_update().filter(where).order_by("path").values("pk")
    sql, params = locked.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS locked", params)
        return cursor.fetchone()[0]


def chain_lock(member_id: int) -> ReferralNode | None:
    """Lock the member's node and its upline, root first, and return the node as it is once
    locked (a move that was under way has committed: its path is current). None if the member
    has no node."""
    node = ReferralNode.objects.filter(pk=member_id).first()
    while node is not None:
        nodes_lock(ids=_chain_ids(node))
        fresh = ReferralNode.objects.filter(pk=member_id).first()
        if fresh is None or fresh.path == node.path:
            return fresh
        # Moved while we waited: lock the new upline too (the node itself is held now, so its
        # path cannot change again).
        node = fresh
    return None


def node_root_ensure(member_id: int) -> ReferralNode:
    """The member's node, created as a root if they have none (race-safe: ON CONFLICT), locked
    with its upline (chain_lock)."""
    ReferralNode.objects.bulk_create(
        [ReferralNode(member_id=member_id, path=f"/{member_id}/", depth=0)], ignore_conflicts=True
    )
    return chain_lock(member_id)


def subtree_lock(node: ReferralNode, *also: ReferralNode | None) -> None:
    """Before a move: lock ``node``'s upline, its whole subtree and the uplines of ``also``
    (the new parent), root first. Attaches under the subtree wait from here on, and those that
    got in first have committed, so the rewrite that follows (a later statement) sees them."""
    ids = [*node.ancestor_ids]
    for other in also:
        if other is not None:
            ids += _chain_ids(other)
    nodes_lock(ids=ids, paths=[node.path])


def _bump_upline(ancestor_ids: list[int], *, parent_id: int | None, size: int) -> None:
    """Add ``size`` members to the downline of ``ancestor_ids`` (negative to remove them), and
    one invitee to (or from) the direct parent."""
    if ancestor_ids:
        ReferralNode.objects.filter(pk__in=ancestor_ids).update(
            downline_count=F("downline_count") + size
        )
    if parent_id is not None:
        ReferralNode.objects.filter(pk=parent_id).update(
            direct_count=F("direct_count") + (1 if size > 0 else -1)
        )


def _rewrite(old_prefix: str, new_prefix: str, depth_delta: int) -> int:
    """Replace ``old_prefix`` by ``new_prefix`` in the paths of a subtree, shifting depths."""
    if old_prefix == new_prefix:
        return 0
    return subtree(old_prefix).update(
        path=Concat(
            Value(new_prefix), Substr("path", len(old_prefix) + 1), output_field=TextField()
        ),
        depth=F("depth") + depth_delta,
    )


def node_add(*, member_id: int, parent: ReferralNode | None) -> ReferralNode:
    """Place a member with no node under ``parent`` (a root when None). ``parent`` must come
    from chain_lock / node_root_ensure (locked with its upline, path current)."""
    if parent is None:
        return node_root_ensure(member_id)
    node = ReferralNode.objects.create(
        member_id=member_id,
        parent_id=parent.member_id,
        path=f"{parent.path}{member_id}/",
        depth=parent.depth + 1,
    )
    _bump_upline([*parent.ancestor_ids, parent.member_id], parent_id=parent.member_id, size=1)
    return node


def subtree_move(node: ReferralNode, new_parent: ReferralNode | None) -> ReferralNode:
    """Hang ``node`` and its whole downline under ``new_parent`` (make it a root when None).
    The caller has checked that ``new_parent`` is not inside the subtree. The subtree is locked
    first (subtree_lock) and both nodes are read again after it: counts and paths are those of
    every attach that committed before."""
    subtree_lock(node, new_parent)
    node = ReferralNode.objects.get(pk=node.pk)
    if new_parent is not None:
        new_parent = ReferralNode.objects.get(pk=new_parent.pk)
    size = 1 + node.downline_count
    _bump_upline(node.ancestor_ids, parent_id=node.parent_id, size=-size)
    base = new_parent.path if new_parent else "/"
    new_depth = new_parent.depth + 1 if new_parent else 0
    _rewrite(node.path, f"{base}{node.member_id}/", new_depth - node.depth)
    ReferralNode.objects.filter(pk=node.pk).update(
        parent_id=new_parent.member_id if new_parent else None
    )
    if new_parent is not None:
        _bump_upline(
            [*new_parent.ancestor_ids, new_parent.member_id],
            parent_id=new_parent.member_id,
            size=size,
        )
    return ReferralNode.objects.get(pk=node.pk)


def node_hand_over(node: ReferralNode, *, to_member_id: int) -> ReferralNode:
    """Give ``node``'s place in the tree, with its counts and downline, to a member who has no
    node (a merge's survivor). Paths below are rewritten; invitees' parent becomes the new
    member."""
    subtree_lock(node)
    node = ReferralNode.objects.get(pk=node.pk)
    parent_path = node.path[: node.path.rstrip("/").rfind("/") + 1]
    new_path = f"{parent_path}{to_member_id}/"
    ReferralNode.objects.create(
        member_id=to_member_id,
        parent_id=node.parent_id,
        path=new_path,
        depth=node.depth,
        direct_count=node.direct_count,
        downline_count=node.downline_count,
        qualified_count=node.qualified_count,
        revenue=node.revenue,
    )
    # The old node's path equals its own prefix: delete it first so the rewrite below moves
    # only the downline.
    ReferralNode.objects.filter(pk=node.pk).delete()
    _rewrite(node.path, new_path, 0)
    ReferralNode.objects.filter(parent_id=node.member_id).update(parent_id=to_member_id)
    return ReferralNode.objects.get(pk=to_member_id)


def node_fold_into(node: ReferralNode, *, into: ReferralNode) -> None:
    """Remove ``node`` from the tree and hang its invitees (with their downlines) under
    ``into``; ``into`` must not be inside ``node``'s subtree."""
    subtree_lock(node, into)
    node = ReferralNode.objects.get(pk=node.pk)
    into = ReferralNode.objects.get(pk=into.pk)
    below = node.downline_count
    _bump_upline(node.ancestor_ids, parent_id=node.parent_id, size=-(1 + below))
    ReferralNode.objects.filter(pk=node.pk).delete()
    # Every path below ``node`` starts with node.path: re-prefix them under ``into``.
    _rewrite(node.path, into.path, into.depth - node.depth)
    moved = ReferralNode.objects.filter(parent_id=node.member_id).update(parent_id=into.member_id)
    if below:
        ReferralNode.objects.filter(pk__in=[*into.ancestor_ids, into.member_id]).update(
            downline_count=F("downline_count") + below
        )
        ReferralNode.objects.filter(pk=into.member_id).update(
            direct_count=F("direct_count") + moved
        )


def is_in_subtree(path: str, *, of_member_id: int) -> bool:
    """Whether the node at ``path`` is ``of_member_id`` or below it."""
    return f"/{of_member_id}/" in path
