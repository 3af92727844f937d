"""Anti-abuse: shared phone / union id / device and bursts from one code flag a referral;
its rewards are held for review; an operator approves, rejects or clears."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import AuditLog, Member
from members.services.members import member_update
from referrals.choices import Flag, RewardKind, RewardStatus
from referrals.models import Fingerprint, Referral, Reward
from referrals.services.abuse import fingerprint_digest
from referrals.services.rewards import referral_clear_flags, reward_approve, reward_reject

pytestmark = pytest.mark.django_db


def _flags(member) -> list[str]:
    return Referral.objects.get(referee=member).flags


def test_clean_referrals_are_not_flagged(make_member, refer):
    referrer = make_member()
    refer(make_member(), referrer, device_id="phone-a")
    friend = make_member()
    assert refer(friend, referrer, device_id="phone-b").flags == []


def test_a_device_shared_with_another_invitee_is_flagged(make_member, refer):
    referrer = make_member()
    first, second = make_member(), make_member()
    refer(first, referrer, device_id="same-device")
    refer(second, referrer, device_id="same-device")
    assert _flags(second) == [Flag.SHARED_DEVICE]


def test_a_device_shared_with_the_referrer_is_flagged(make_member, refer):
    from referrals.services.abuse import fingerprints_record

    referrer = make_member()
    fingerprints_record(member=referrer, device_id="my-phone")
    friend = make_member()
    assert refer(friend, referrer, device_id="my-phone").flags == [Flag.SHARED_DEVICE]


def test_a_phone_the_referrer_gave_up_is_flagged(make_member, refer):
    """Phones are unique among members at any time: sharing shows through history. The
    referrer switches to a new number and signs their old number up as a "friend"."""
    referrer = make_member(phone="+8613900000001")
    refer(make_member(), referrer)  # records the referrer's current phone
    member_update(member=referrer, phone="+8613900000002")
    fake = make_member(phone="+8613900000001")
    assert refer(fake, referrer).flags == [Flag.SHARED_PHONE]


def test_a_union_id_seen_on_another_invitee_is_flagged(make_member, refer):
    referrer = make_member()
    first = make_member(unionid="union-xyz")
    refer(first, referrer)
    member_update(member=first, unionid="union-new")
    second = make_member(unionid="union-xyz")
    assert refer(second, referrer).flags == [Flag.SHARED_UNIONID]


def test_fingerprints_store_keyed_hashes_not_values(make_member, refer):
    friend = make_member(phone="+8613900000009")
    refer(friend, make_member(), device_id="dev-9")
    stored = set(Fingerprint.objects.filter(member=friend).values_list("digest", flat=True))
    assert fingerprint_digest("phone", "+8613900000009") in stored
    assert not any("13900000009" in d or "dev-9" in d for d in stored)


def test_a_burst_from_one_code_flags_the_whole_window(make_member, refer, settings):
    settings.SCRM_REFERRAL_BURST_LIMIT = 3
    referrer = make_member()
    friends = [make_member() for _ in range(4)]
    for friend in friends[:3]:
        refer(friend, referrer)
    assert all(_flags(f) == [] for f in friends[:3])
    refer(friends[3], referrer)
    assert all(_flags(f) == [Flag.BURST] for f in friends)
    # Outside the window, the code is quiet again.
    later = make_member()
    refer(later, referrer, now=timezone.now() + timedelta(hours=2))
    assert _flags(later) == []


def test_a_burst_today_does_not_flag_an_old_referral_that_qualifies_now(
    make_member, refer, pay, programme, settings
):
    """The burst check at qualification looks at the window of the referral's own sign-up,
    not at the hour before its first order."""
    settings.SCRM_REFERRAL_BURST_LIMIT = 3
    referrer = make_member()
    old_friend = make_member()
    refer(old_friend, referrer, now=timezone.now() - timedelta(days=5))
    for _ in range(4):
        refer(make_member(), referrer)  # today's burst from the same code
    assert _flags(old_friend) == []
    pay(old_friend, "200")
    referral = Referral.objects.get(referee=old_friend)
    assert referral.status == "qualified" and referral.flags == []
    reward = Reward.objects.get(kind=RewardKind.REFERRER, referral=referral)
    assert reward.status == RewardStatus.GRANTED


def test_a_burst_found_again_at_qualification_still_flags(make_member, refer, pay, programme):
    """The same window, judged again when the first order comes: a burst sign-up stays
    flagged (and its rewards held) even if its flag had been lost."""
    referrer = make_member()
    friends = [make_member() for _ in range(11)]
    for friend in friends:
        refer(friend, referrer)
    last = friends[-1]  # the sign-up that passed the limit: its own window holds the burst
    Referral.objects.filter(referee=last).update(flags=[])
    pay(last, "200")
    assert _flags(last) == [Flag.BURST]
    assert Reward.objects.get(kind=RewardKind.REFERRER).status == RewardStatus.HELD


def test_flagged_rewards_are_held_then_approved_once(make_member, refer, pay, programme, operator):
    referrer = make_member()
    refer(make_member(), referrer, device_id="d")
    friend = make_member()
    refer(friend, referrer, device_id="d")
    pay(friend, "200")
    held = Reward.objects.filter(member=referrer, status=RewardStatus.HELD)
    assert set(held.values_list("kind", flat=True)) == {
        RewardKind.REFERRER,
        RewardKind.COMMISSION_1,
    }
    assert Member.objects.get(pk=referrer.pk).points_balance == 0
    reward = held.get(kind=RewardKind.REFERRER)
    reward_approve(reward=reward, actor=operator)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.GRANTED and reward.reviewed_by == operator
    assert Member.objects.get(pk=referrer.pk).points_balance == 100
    with pytest.raises(Exception):  # noqa: B017 (a ValidationError: only held rewards)
        reward_approve(reward=reward, actor=operator)
    assert Member.objects.get(pk=referrer.pk).points_balance == 100
    assert AuditLog.objects.filter(action="referral_reward.approve").count() == 1


def test_rejected_rewards_pay_nothing(make_member, refer, pay, programme, operator):
    referrer = make_member()
    refer(make_member(), referrer, device_id="d")
    friend = make_member()
    refer(friend, referrer, device_id="d")
    pay(friend, "200")
    for reward in Reward.objects.filter(status=RewardStatus.HELD):
        reward_reject(reward=reward, actor=operator, note="same phone farm")
    assert Member.objects.get(pk=referrer.pk).points_balance == 0
    assert Member.objects.get(pk=friend.pk).points_balance == 200  # the order's own points


def test_clearing_a_referral_pays_its_held_rewards_and_later_ones(
    make_member, refer, pay, programme, operator
):
    referrer = make_member()
    refer(make_member(), referrer, device_id="d")
    friend = make_member()
    referral = refer(friend, referrer, device_id="d")
    pay(friend, "200")
    assert referral_clear_flags(referral=referral, actor=operator) == 3
    pay(friend, "100")  # commission on a later order is paid at once
    assert Member.objects.get(pk=referrer.pk).points_balance == 100 + 20 + 10
    assert not Reward.objects.filter(status=RewardStatus.HELD).exists()


def test_a_flagged_link_holds_level_two_commission(chain, make_member, refer, pay, programme):
    a = make_member()
    refer(make_member(), a, device_id="farm")
    b = make_member()
    refer(b, a, device_id="farm")  # a -> b flagged
    c = make_member()
    refer(c, b)  # b -> c clean
    pay(c, "200")
    by_kind = {r.kind: r.status for r in Reward.objects.filter(order__member=c)}
    assert by_kind[RewardKind.COMMISSION_1] == RewardStatus.GRANTED  # to b
    assert by_kind[RewardKind.COMMISSION_2] == RewardStatus.HELD  # to a, over the flagged link
