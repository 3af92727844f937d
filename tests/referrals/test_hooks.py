"""Members' merges and erasures carry through the referral tables: the tree stays whole and
its counts true, a merge of the same person's two records is flagged, erasure removes the
person and keeps an anonymous place."""

import pytest

from members.services.members import member_merge
from members.services.privacy import member_data_copy, member_erase
from referrals import selectors
from referrals.choices import Flag, ReferralStatus, RewardStatus
from referrals.models import (
    Fingerprint,
    FissionProgress,
    Referral,
    ReferralCode,
    ReferralNode,
    Reward,
)

pytestmark = pytest.mark.django_db


def _check_tree():
    """Every stored count and depth equals what the paths say, and referrals match parents."""
    for node in ReferralNode.objects.all():
        assert node.downline_count == selectors.downline_count(node), node
        assert node.direct_count == ReferralNode.objects.filter(parent=node.member).count(), node
        assert node.depth == len(node.ancestor_ids), node
        parent = node.ancestor_ids[-1] if node.ancestor_ids else None
        assert node.parent_id == parent, node
        referral = Referral.objects.filter(referee=node.member).first()
        if parent is not None:
            assert referral is not None and referral.referrer_id == parent, node


def test_merging_a_record_with_no_tree_place_changes_nothing(make_member, refer):
    a, b = make_member(), make_member()
    refer(b, a)
    other = make_member()
    member_merge(survivor=b, merged=other)
    _check_tree()


def test_survivor_without_a_place_takes_the_merged_records_place(make_member, refer):
    top, merged, invitee = make_member(), make_member(), make_member()
    refer(merged, top)
    refer(invitee, merged)
    survivor = make_member()
    member_merge(survivor=survivor, merged=merged)
    assert not ReferralNode.objects.filter(pk=merged.pk).exists()
    assert Referral.objects.get(referee=survivor).referrer == top
    node = ReferralNode.objects.get(pk=invitee.pk)
    assert node.path == f"/{top.pk}/{survivor.pk}/{invitee.pk}/"
    assert Referral.objects.get(referee=invitee).referrer == survivor
    _check_tree()


def test_both_placed_the_merged_invitees_move_under_the_survivor(make_member, refer):
    top1, survivor, top2, merged = (make_member() for _ in range(4))
    refer(survivor, top1)
    refer(merged, top2)
    kids = [make_member() for _ in range(2)]
    for kid in kids:
        refer(kid, merged)
    grandkid = make_member()
    refer(grandkid, kids[0])
    member_merge(survivor=survivor, merged=merged)
    assert ReferralNode.objects.get(pk=survivor.pk).direct_count == 2
    assert ReferralNode.objects.get(pk=top1.pk).downline_count == 4
    assert ReferralNode.objects.get(pk=top2.pk).downline_count == 0
    assert Referral.objects.get(referee=merged).status == ReferralStatus.MERGED
    assert ReferralNode.objects.get(pk=grandkid.pk).depth == 3
    _check_tree()


def test_the_same_person_below_themselves_is_lifted_and_flagged(make_member, refer):
    """B referred C who referred D; B and D are one person (merged, D survives)."""
    top, b, c, d = (make_member() for _ in range(4))
    refer(b, top)
    refer(c, b)
    refer(d, c)
    e = make_member()
    refer(e, b)
    member_merge(survivor=d, merged=b)
    referral = Referral.objects.get(referee=d)
    assert referral.referrer == top and Flag.MERGED_SELF in referral.flags
    assert ReferralNode.objects.get(pk=d.pk).parent_id == top.pk
    assert {n.member_id for n in ReferralNode.objects.filter(parent=d)} == {c.pk, e.pk}
    _check_tree()


def test_merged_below_the_survivor_is_folded_in(make_member, refer):
    top, survivor, middle, merged, kid = (make_member() for _ in range(5))
    refer(survivor, top)
    refer(middle, survivor)
    refer(merged, middle)
    refer(kid, merged)
    member_merge(survivor=survivor, merged=merged)
    assert ReferralNode.objects.get(pk=kid.pk).parent_id == survivor.pk
    _check_tree()


def test_merge_moves_codes_rewards_fingerprints_and_recounts(make_member, refer, pay, programme):
    survivor, merged, friend = make_member(), make_member(), make_member()
    refer(friend, merged, device_id="x")
    pay(friend, "200")
    member_merge(survivor=survivor, merged=merged)
    assert ReferralCode.objects.filter(member=survivor).count() == 1
    assert Reward.objects.filter(member=survivor).count() == 2
    assert not Fingerprint.objects.filter(member=merged).exists()
    node = ReferralNode.objects.get(pk=survivor.pk)
    assert (node.direct_count, node.qualified_count) == (1, 1)
    _check_tree()


def test_erasure_keeps_an_anonymous_place_and_removes_the_person(
    make_member, refer, pay, programme
):
    from datetime import timedelta

    from django.utils import timezone

    from referrals.models import FissionTask

    now = timezone.now()
    FissionTask.objects.create(
        name="t",
        goal=5,
        counts="signup",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        reward_points=1,
    )
    top, member, kid = make_member(), make_member(), make_member()
    refer(member, top, device_id="d1")
    refer(kid, member, device_id="d1")  # flagged: the kid's rewards are held
    pay(kid, "200")
    assert Reward.objects.filter(member=member, status=RewardStatus.HELD).exists()
    counts = member_erase(member=member)
    assert counts["referral_codes_deactivated"] == 1
    assert not ReferralCode.objects.filter(member=member, is_active=True).exists()
    assert not Fingerprint.objects.filter(member=member).exists()
    assert not FissionProgress.objects.filter(member=member).exists()
    assert not Reward.objects.filter(member=member, status=RewardStatus.HELD).exists()
    assert ReferralNode.objects.get(pk=kid.pk).path == f"/{top.pk}/{member.pk}/{kid.pk}/"
    _check_tree()


def test_data_copy_has_the_referral_section_without_other_peoples_data(make_member, refer):
    top, member, kid = make_member(), make_member(), make_member()
    refer(member, top)
    refer(kid, member)
    copy = member_data_copy(member=member)["referrals"]
    assert copy["referred_by"]["member_id"] == top.pk
    assert copy["invitees"] == 1
    assert len(copy["codes"]) == 1
    assert str(kid.phone) not in str(copy)
