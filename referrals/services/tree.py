"""Changing the referral forest: new nodes, moving a subtree, handing a node to another member.

Paths are rewritten with one UPDATE over the moved subtree's path range, and the counts of the
old and new uplines with one UPDATE each: set-based, whatever the subtree's size. Callers hold
the transaction (referrals.services.attach, referrals.services.hooks).
"""

from __future__ import annotations

from django.db.models import F, TextField, Value
from django.db.models.functions import Concat, Substr

from referrals.models import ReferralNode


def subtree_range(path: str) -> tuple[str, str]:
    """[low, high) holding ``path`` and every path below it: '0' sorts right after '/'."""
    return path, path[:-1] + "0"


def subtree(path: str, *, include_self: bool = True):
    """Nodes at and below ``path`` (or strictly below), as one index range."""
    low, high = subtree_range(path)
    nodes = ReferralNode.objects.filter(path__gte=low, path__lt=high)
    return nodes if include_self else nodes.exclude(path=path)


def node_locked(member_id: int) -> ReferralNode | None:
    return ReferralNode.objects.select_for_update().filter(pk=member_id).first()


def node_root_ensure(member_id: int) -> ReferralNode:
    """The member's node, created as a root if they have none (race-safe: ON CONFLICT)."""
    ReferralNode.objects.bulk_create(
        [ReferralNode(member_id=member_id, path=f"/{member_id}/", depth=0)], ignore_conflicts=True
    )
    return ReferralNode.objects.select_for_update().get(pk=member_id)


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
    """Place a member with no node under ``parent`` (a root when None)."""
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
    The caller has checked that ``new_parent`` is not inside the subtree."""
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
