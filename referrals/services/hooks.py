"""What referrals do when members merges or erases a member, and what it adds to a member's
data copy. Registered in ReferralsConfig.ready(); each runs inside members' transaction."""

from __future__ import annotations

from django.utils.translation import gettext as _

from members.models import Member
from referrals.choices import Flag, ReferralStatus, RewardStatus
from referrals.models import (
    Fingerprint,
    FissionProgress,
    Referral,
    ReferralCode,
    ReferralNode,
    Reward,
)
from referrals.services import tree
from referrals.services.fission import fission_progress_refresh
from referrals.services.stats import referrer_stats_refresh


def referrals_merge(survivor: Member, merged: Member) -> dict:
    """Move the merged record's codes, rewards, fingerprints and tree place to the survivor.

    The survivor keeps its own referral and place; it inherits the merged record's when it had
    none. The merged record's invitees (with their downlines) move under the survivor. When one
    record was in the other's downline the person referred themselves: the survivor is lifted
    out of the merged record's downline and the referral is flagged for review."""
    moved = {
        "referral_codes": ReferralCode.objects.filter(member=merged).update(member=survivor),
        "referral_rewards": Reward.objects.filter(member=merged).update(member=survivor),
    }
    Fingerprint.objects.bulk_create(
        [
            Fingerprint(member=survivor, kind=kind, digest=digest)
            for kind, digest in Fingerprint.objects.filter(member=merged).values_list(
                "kind", "digest"
            )
        ],
        ignore_conflicts=True,
    )
    Fingerprint.objects.filter(member=merged).delete()
    touched = _merge_tree(survivor, merged)
    moved["referral_invitees"] = Referral.objects.filter(referrer=merged).update(referrer=survivor)
    task_ids = list(
        FissionProgress.objects.filter(member__in=[survivor, merged]).values_list(
            "task_id", flat=True
        )
    )
    FissionProgress.objects.filter(member=merged).delete()
    if task_ids:
        fission_progress_refresh(member_id=survivor.pk, task_ids=task_ids)
    referrer_stats_refresh(member_ids=[survivor.pk, *touched])
    return moved


def _merge_tree(survivor: Member, merged: Member) -> list[int]:
    """Fold the merged record's node into the survivor's; returns the referrers whose counts
    changed."""
    m_node = ReferralNode.objects.filter(pk=merged.pk).first()
    if m_node is None:
        return []
    # Everything the moves below touch, locked up front in path order (see services.tree):
    # both uplines and both subtrees. Then the nodes are read as they are once locked.
    s_node = ReferralNode.objects.filter(pk=survivor.pk).first()
    tree.nodes_lock(
        ids=[*m_node.ancestor_ids, *(s_node.ancestor_ids if s_node else [])],
        paths=[m_node.path, *([s_node.path] if s_node else [])],
    )
    m_node = tree.node_locked(merged.pk)
    s_node = tree.node_locked(survivor.pk)
    m_ref = Referral.objects.select_for_update().filter(referee=merged).first()
    touched = [m_node.parent_id] if m_node.parent_id else []
    if s_node is None:
        tree.node_hand_over(m_node, to_member_id=survivor.pk)
        if m_ref is not None:
            m_ref.referee = survivor
            m_ref.save(update_fields=["referee"])
        return touched
    s_ref = Referral.objects.select_for_update().filter(referee=survivor).first()
    m_parent = tree.node_locked(m_node.parent_id) if m_node.parent_id else None
    if s_node.parent_id:
        touched.append(s_node.parent_id)
    if tree.is_in_subtree(s_node.path, of_member_id=merged.pk):
        # The survivor sits below the merged record: lift it to the merged record's place.
        s_node = tree.subtree_move(s_node, m_parent)
        s_ref.referrer_id = m_node.parent_id
        if m_ref is not None:
            s_ref.guide_id, s_ref.code_id = m_ref.guide_id, m_ref.code_id
        s_ref.flags = sorted({*s_ref.flags, Flag.MERGED_SELF.value})
        s_ref.cleared_at = None
        s_ref.save(update_fields=["referrer", "guide", "code", "flags", "cleared_at"])
    elif (
        s_ref is None
        and m_ref is not None
        and not tree.is_in_subtree(m_node.path, of_member_id=survivor.pk)
    ):
        # The survivor was never referred: it takes the merged record's referral and place.
        s_node = tree.subtree_move(s_node, m_parent)
        m_ref.referee = survivor
        m_ref.save(update_fields=["referee"])
        m_ref = None
    m_node = ReferralNode.objects.get(pk=merged.pk)
    tree.node_fold_into(m_node, into=ReferralNode.objects.get(pk=survivor.pk))
    if m_ref is not None:
        m_ref.status = ReferralStatus.MERGED
        m_ref.save(update_fields=["status"])
    return touched


def referrals_erase(member: Member) -> dict:
    """An erased member keeps an anonymous place in the tree (their invitees' chains stay
    whole; the member row is blank). Their codes stop working, fingerprints and fission
    progress go, and rewards still held for them are rejected."""
    counts = {
        "referral_codes_deactivated": ReferralCode.objects.filter(
            member=member, is_active=True
        ).update(is_active=False),
        "referral_fingerprints": Fingerprint.objects.filter(member=member).delete()[0],
        "fission_progress": FissionProgress.objects.filter(member=member).delete()[0],
        "referral_rewards_rejected": Reward.objects.filter(
            member=member, status=RewardStatus.HELD
        ).update(status=RewardStatus.REJECTED, note=_("The member was erased.")),
    }
    return counts


def referrals_data_copy(member: Member) -> dict:
    """The member's referral data for their data copy: codes, who referred them, how many they
    referred (not who: that is other people's data), and their rewards."""
    referral = Referral.objects.select_related("guide").filter(referee=member).first()
    node = ReferralNode.objects.filter(pk=member.pk).first()
    return {
        "referrals": {
            "codes": list(
                ReferralCode.objects.filter(member=member).values("code", "is_active", "created_at")
            ),
            "referred_by": None
            if referral is None
            else {
                "member_id": referral.referrer_id,
                "guide": referral.guide.name if referral.guide else None,
                "at": referral.attached_at,
                "status": referral.status,
            },
            "invitees": node.direct_count if node else 0,
            "invitees_who_bought": node.qualified_count if node else 0,
            "rewards": list(
                Reward.objects.filter(member=member)
                .order_by("pk")
                .values("kind", "points", "coupon_template__name", "status", "created_at")
            ),
        }
    }
